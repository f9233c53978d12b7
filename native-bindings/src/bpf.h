// BPF filters for sockets that libpcap does not open itself (the tpacket backend).
#pragma once

#include <linux/filter.h>

#include <string>
#include <vector>

namespace offpath {

// A tcpdump-syntax filter compiled for one link type, ready for SO_ATTACH_FILTER.
struct CompiledFilter {
  std::vector<sock_filter> kernel;  // what the kernel runs (never empty: at least "accept")
  // Set when the kernel cannot run the real program (a cooked socket whose filter reads link-layer fields the
  // kernel cannot translate): the kernel then accepts everything and this program is run in user space on the
  // synthesized cooked header instead.
  std::vector<sock_filter> userland;
};

// Compiles `expression` with libpcap for `linkType`, unchanged. On a syntax error returns false with libpcap's
// message in *error.
bool CompileProgram(const std::string& expression, int linkType, int snapLength, std::vector<sock_filter>* out,
                    std::string* error);

// Compiles `expression` with libpcap for `linkType` (DLT_EN10MB or DLT_LINUX_SLL). On a syntax error returns
// false and puts libpcap's message in *error. For DLT_LINUX_SLL the program is rewritten for a SOCK_DGRAM
// packet socket, whose data starts at the network header (see AdaptToCookedSocket).
bool CompileFilter(const std::string& expression, int linkType, int snapLength, CompiledFilter* out, std::string* error);

// Rewrites loads of a program compiled for DLT_LINUX_SLL (16-byte cooked header in front of the network header)
// so that it runs on what a SOCK_DGRAM socket's filter sees: offsets past the header move back by 16, the
// packet-type and protocol fields become the kernel's ancillary loads. Returns false if any load reads another
// header field (addresses), which the kernel cannot provide.
bool AdaptToCookedSocket(std::vector<sock_filter>* program);

// Runs a classic BPF program in user space over one packet; returns the snap length it grants (0 = reject).
unsigned RunFilter(const std::vector<sock_filter>& program, const unsigned char* packet, unsigned wireLength,
                   unsigned capturedLength);

}  // namespace offpath
