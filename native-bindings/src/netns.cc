#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

namespace offpath {

int NetnsScope::Enter(const std::string& path, std::string* what) {
  if (path.empty()) return 0;
  original_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (original_ < 0) {
    *what = "open(/proc/thread-self/ns/net)";
    return errno;
  }
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    *what = "open network namespace " + path;
    close(original_);
    original_ = -1;
    return err;
  }
  int rc = setns(target, CLONE_NEWNET);
  int err = errno;
  close(target);
  if (rc != 0) {
    *what = "setns(" + path + ")";
    close(original_);
    original_ = -1;
    return err;
  }
  return 0;
}

NetnsScope::~NetnsScope() {
  if (original_ < 0) return;
  if (setns(original_, CLONE_NEWNET) != 0) {
    // Returning to JavaScript in the wrong namespace would silently send the rest of the process's traffic
    // (HTTP API, Redis) through another network stack; stopping is the only safe choice, and it cannot
    // happen in practice since entering succeeded with the same privileges.
    fprintf(stderr, "offpath native: cannot return to the original network namespace (errno %d); aborting\n", errno);
    abort();
  }
  close(original_);
}

}  // namespace offpath
