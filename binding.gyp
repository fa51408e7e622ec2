{
  "targets": [
    {
      "target_name": "tsreverse_sys",
      "sources": ["native/sys.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
