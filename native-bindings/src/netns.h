// Opening a socket inside another network namespace without moving the process there.
#pragma once

#include <string>

namespace offpath {

// Switches the calling thread into the network namespace at `path` (a file such as /run/netns/NAME) and back
// when destroyed. Sockets created in between stay in that namespace for their whole life, which is how a sensor
// (or a test) can capture and inject on interfaces the process's own namespace does not see. Only the calling
// thread moves, and it moves back before any JavaScript runs again. An empty path does nothing.
class NetnsScope {
 public:
  NetnsScope() = default;
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;
  ~NetnsScope();

  // Returns 0 or an errno; *what names the failed step.
  int Enter(const std::string& path, std::string* what);

 private:
  int original_ = -1;
};

}  // namespace offpath
