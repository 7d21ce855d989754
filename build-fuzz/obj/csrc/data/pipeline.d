build-fuzz/obj/csrc/data/pipeline.o: csrc/data/pipeline.c \
  csrc/data/pipeline.h csrc/data/../core/rng.h csrc/data/../ops/vision.h \
  csrc/data/../ops/../core/error.h

csrc/data/pipeline.h:

csrc/data/../core/rng.h:

csrc/data/../ops/vision.h:

csrc/data/../ops/../core/error.h:
