build-fuzz/obj/csrc/core/rng.o: csrc/core/rng.c csrc/core/rng.h \
  csrc/core/threads.h

csrc/core/rng.h:

csrc/core/threads.h:
