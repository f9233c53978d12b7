import { OffpathError } from '../../util/errors.js';

/** Why a live capture or injection could not start. Each kind says what to do about it. */
export type LiveCaptureProblem = 'no_such_interface' | 'permission' | 'bad_filter' | 'interface_down' | 'backend_unavailable' | 'failed';

const HINTS: Record<LiveCaptureProblem, string> = {
  no_such_interface: 'check the name with "ip link"',
  permission: 'run as root or grant the capability: setcap cap_net_raw,cap_net_admin+eip "$(readlink -f "$(which node)")"',
  bad_filter: 'the filter uses tcpdump syntax; test it with "tcpdump -d FILTER"',
  interface_down: 'bring it up with "ip link set IF up"',
  backend_unavailable: 'rebuild the native addon with "npm run install" (needs libpcap-dev, python3, make, g++) or use --backend cap',
  failed: 'see the message for the system error',
};

/** A live capture or injection interface that cannot be opened or used. Exit code 4 (environment). */
export class LiveCaptureError extends OffpathError {
  readonly problem: LiveCaptureProblem;
  readonly iface: string;
  constructor(problem: LiveCaptureProblem, iface: string, message: string) {
    super(`live_${problem}`, `${iface}: ${message}`, HINTS[problem]);
    this.name = 'LiveCaptureError';
    this.problem = problem;
    this.iface = iface;
  }
}

/** Maps a libpcap / errno message to the problem kind. */
export function classifyCaptureMessage(message: string): LiveCaptureProblem {
  const m = message.toLowerCase();
  if (/no such device|doesn't exist|does not exist|no such interface|enodev|enxio/.test(m)) return 'no_such_interface';
  if (/permission|operation not permitted|eperm|eacces|cap_net_raw/.test(m)) return 'permission';
  if (/syntax error|filter|unknown host|illegal token|can't parse/.test(m)) return 'bad_filter';
  if (/network is down|enetdown|not up/.test(m)) return 'interface_down';
  return 'failed';
}
