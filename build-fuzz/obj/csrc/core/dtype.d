build-fuzz/obj/csrc/core/dtype.o: csrc/core/dtype.c csrc/core/dtype.h

csrc/core/dtype.h:
