build-fuzz/obj/csrc/io/file.o: csrc/io/file.c csrc/io/file.h \
  csrc/io/../core/error.h

csrc/io/file.h:

csrc/io/../core/error.h:
