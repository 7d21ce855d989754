build-fuzz/obj/csrc/core/ctx.o: csrc/core/ctx.c csrc/core/ctx.h \
  csrc/core/rng.h

csrc/core/ctx.h:

csrc/core/rng.h:
