build-fuzz/obj/csrc/lua/l_data.o: csrc/lua/l_data.c \
  csrc/lua/../core/rng.h csrc/lua/../data/loader.h \
  csrc/lua/../data/../core/tensor.h csrc/lua/../core/ctx.h \
  csrc/lua/../core/dtype.h csrc/lua/../core/error.h \
  csrc/lua/../data/pipeline.h csrc/lua/../data/../core/rng.h \
  csrc/lua/../data/../ops/vision.h \
  csrc/lua/../data/../ops/../core/error.h csrc/lua/../ops/copy.h \
  csrc/lua/../data/../ops/../core/tensor.h csrc/lua/binding.h \
  /usr/include/lua5.4/lauxlib.h /usr/include/lua5.4/luaconf.h \
  /usr/include/lua5.4/lua.h csrc/lua/../core/tensor.h

csrc/lua/../core/rng.h:

csrc/lua/../data/loader.h:

csrc/lua/../data/../core/tensor.h:

csrc/lua/../core/ctx.h:

csrc/lua/../core/dtype.h:

csrc/lua/../core/error.h:

csrc/lua/../data/pipeline.h:

csrc/lua/../data/../core/rng.h:

csrc/lua/../data/../ops/vision.h:

csrc/lua/../data/../ops/../core/error.h:

csrc/lua/../ops/copy.h:

csrc/lua/../data/../ops/../core/tensor.h:

csrc/lua/binding.h:

/usr/include/lua5.4/lauxlib.h:

/usr/include/lua5.4/luaconf.h:

/usr/include/lua5.4/lua.h:

csrc/lua/../core/tensor.h:
