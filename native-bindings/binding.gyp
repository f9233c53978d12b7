{
  "targets": [
    {
      "target_name": "offpath_native",
      "sources": [
        "src/addon.cc",
        "src/common.cc",
        "src/netns.cc",
        "src/interface.cc",
        "src/bpf.cc",
        "src/capture_handle.cc",
        "src/pcap_source.cc",
        "src/tpacket_source.cc",
        "src/injectors.cc",
        "src/session_track.cc",
        "src/intel_screen.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=gnu++17", "-fno-exceptions", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "libraries": ["-lpcap"]
    }
  ]
}
