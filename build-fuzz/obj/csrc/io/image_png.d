build-fuzz/obj/csrc/io/image_png.o: csrc/io/image_png.c csrc/io/file.h \
  csrc/io/../core/error.h csrc/io/image.h csrc/io/../core/tensor.h \
  csrc/io/../core/ctx.h csrc/io/../core/rng.h csrc/io/../core/dtype.h

csrc/io/file.h:

csrc/io/../core/error.h:

csrc/io/image.h:

csrc/io/../core/tensor.h:

csrc/io/../core/ctx.h:

csrc/io/../core/rng.h:

csrc/io/../core/dtype.h:
