{
  "targets": [
    {
      "target_name": "tsreverse_sys",
      "sources": ["native/sys.c", "native/fuse.c", "native/seal.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "<!@(pkg-config --cflags fuse3)"],
      "libraries": ["<!@(pkg-config --libs fuse3)"]
    }
  ]
}
