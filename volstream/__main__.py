from volstream.cli import main

main()
