from volstream.schemas import write_all

write_all()
