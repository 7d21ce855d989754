-- LuaRocks build of graft 0.1.0: luarocks --lua-version 5.4 build graft-0.1.0-1.rockspec
-- (Debian's luarocks defaults to Lua 5.1: the --lua-version flag is needed.)
rockspec_format = "3.0"
package = "graft"
version = "0.1.0-1"
source = {
  tag = "v0.1.0",
  url = "git+https://github.com/graft-lua/graft.git",
}
description = {
  summary = "Transfer learning for Lua 5.4 on a C core",
  detailed = [[
    Load pretrained weights (PyTorch, timm, Hugging Face safetensors), freeze, extract
    features, fine-tune and save, in a few lines of Lua. Tensors and kernels run in C on
    OpenBLAS.
  ]],
  license = "MIT",
  labels = {"machine-learning", "deep-learning", "tensor"},
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
external_dependencies = {
  -- Checked by library: Debian's luarocks searches multiarch directories for libraries
  -- but not for headers (cblas.h is in /usr/include/x86_64-linux-gnu/). The Makefile
  -- then prefers the OpenMP build of OpenBLAS in its openblas-openmp subdirectory.
  OPENBLAS = {
    library = "openblas",
  },
  CJSON = {
    header = "cjson/cJSON.h",
    library = "cjson",
  },
  PNG = {
    header = "png.h",
    library = "png",
  },
  JPEG = {
    header = "jpeglib.h",
    library = "jpeg",
  },
  Z = {
    header = "zlib.h",
    library = "z",
  },
}
build = {
  type = "make",
  build_target = "all",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LUA_INC = "$(LUA_INCDIR)",
    OPENBLAS_INCDIR = "$(OPENBLAS_INCDIR)",
    OPENBLAS_LIBDIR = "$(OPENBLAS_LIBDIR)",
    CJSON_INCDIR = "$(CJSON_INCDIR)",
    CJSON_LIBDIR = "$(CJSON_LIBDIR)",
    PNG_INCDIR = "$(PNG_INCDIR)",
    PNG_LIBDIR = "$(PNG_LIBDIR)",
    JPEG_INCDIR = "$(JPEG_INCDIR)",
    JPEG_LIBDIR = "$(JPEG_LIBDIR)",
    Z_INCDIR = "$(Z_INCDIR)",
    Z_LIBDIR = "$(Z_LIBDIR)",
  },
  install_target = "install-rock",
  install_variables = {
    PREFIX = "$(PREFIX)",
    LUA_LMODDIR = "$(LUADIR)",
    LUA_CMODDIR = "$(LIBDIR)",
    BINDIR = "$(BINDIR)",
  },
  -- Installed beside the rock (luarocks doc graft): the guides and the API reference.
  copy_directories = {"docs"},
}
