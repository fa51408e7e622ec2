// The FUSE binding (fuse.c), defined on the exports of the addon whose init is in sys.c.
#pragma once
#include <node_api.h>

napi_status fuse_binding_define(napi_env env, napi_value exports);
