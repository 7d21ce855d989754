build-fuzz/obj/csrc/core/error.o: csrc/core/error.c csrc/core/error.h

csrc/core/error.h:
