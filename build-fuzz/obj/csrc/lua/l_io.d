build-fuzz/obj/csrc/lua/l_io.o: csrc/lua/l_io.c csrc/lua/../io/idx.h \
  csrc/lua/../io/../core/tensor.h csrc/lua/../io/../core/ctx.h \
  csrc/lua/../io/../core/rng.h csrc/lua/../io/../core/dtype.h \
  csrc/lua/../io/../core/error.h csrc/lua/../io/image.h \
  csrc/lua/../io/safetensors.h csrc/lua/../ops/copy.h \
  csrc/lua/../ops/../core/tensor.h csrc/lua/binding.h \
  /usr/include/lua5.4/lauxlib.h /usr/include/lua5.4/luaconf.h \
  /usr/include/lua5.4/lua.h csrc/lua/../core/ctx.h \
  csrc/lua/../core/tensor.h

csrc/lua/../io/idx.h:

csrc/lua/../io/../core/tensor.h:

csrc/lua/../io/../core/ctx.h:

csrc/lua/../io/../core/rng.h:

csrc/lua/../io/../core/dtype.h:

csrc/lua/../io/../core/error.h:

csrc/lua/../io/image.h:

csrc/lua/../io/safetensors.h:

csrc/lua/../ops/copy.h:

csrc/lua/../ops/../core/tensor.h:

csrc/lua/binding.h:

/usr/include/lua5.4/lauxlib.h:

/usr/include/lua5.4/luaconf.h:

/usr/include/lua5.4/lua.h:

csrc/lua/../core/ctx.h:

csrc/lua/../core/tensor.h:
