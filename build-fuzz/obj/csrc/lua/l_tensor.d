build-fuzz/obj/csrc/lua/l_tensor.o: csrc/lua/l_tensor.c \
  csrc/lua/../ops/copy.h csrc/lua/../ops/../core/tensor.h \
  csrc/lua/../ops/../core/ctx.h csrc/lua/../ops/../core/rng.h \
  csrc/lua/../ops/../core/dtype.h csrc/lua/../ops/../core/error.h \
  csrc/lua/binding.h /usr/include/lua5.4/lauxlib.h \
  /usr/include/lua5.4/luaconf.h /usr/include/lua5.4/lua.h \
  csrc/lua/../core/ctx.h csrc/lua/../core/tensor.h

csrc/lua/../ops/copy.h:

csrc/lua/../ops/../core/tensor.h:

csrc/lua/../ops/../core/ctx.h:

csrc/lua/../ops/../core/rng.h:

csrc/lua/../ops/../core/dtype.h:

csrc/lua/../ops/../core/error.h:

csrc/lua/binding.h:

/usr/include/lua5.4/lauxlib.h:

/usr/include/lua5.4/luaconf.h:

/usr/include/lua5.4/lua.h:

csrc/lua/../core/ctx.h:

csrc/lua/../core/tensor.h:
