{
  "targets": [
    {
      "target_name": "tapvs_tap",
      "sources": ["native/tap.cc", "native/tap-uring.cc", "native/notify.cc", "native/poll-spin.cc", "native/packet.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-O2", "-std=c++17", "-Wall", "-Wextra"]
    },
    {
      "target_name": "tapvs_bpf",
      "sources": ["native/bpf.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-O2", "-std=c++17", "-Wall", "-Wextra"],
      "libraries": ["-lpcap"]
    }
  ]
}
