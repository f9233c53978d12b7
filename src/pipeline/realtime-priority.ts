/**
 * Real-time scheduling for the packet thread (`--realtime-priority N`): SCHED_FIFO through the native addon.
 *
 * Why: on a host that also runs other work, a sensor woken by a packet waits until the running task yields
 * (milliseconds under the default policy); a real-time thread preempts it at once. Measured in the namespace lab,
 * where the endpoints share the sensor's two vCPUs: blocked connections reset before their first byte went from
 * about half to 95 % with this alone. Suricata's thread "prio" settings serve the same purpose.
 *
 * Safety: the kernel's real-time throttling (sched_rt_runtime_us, 95 % by default) keeps a share of every second
 * for ordinary tasks, and the sensor sleeps between packets. A real-time thread that never sleeps would take its
 * core, so the option is refused together with --busy-poll.
 */
import { loadNativeAddon } from '../capture/live/native-addon.js';
import { OffpathError } from '../util/errors.js';

export const MIN_REALTIME_PRIORITY = 1;
export const MAX_REALTIME_PRIORITY = 99;

export class SchedulingError extends OffpathError {
  constructor(message: string, hint: string) {
    super('scheduling', message, hint);
    this.name = 'SchedulingError';
  }
}

/** Puts the calling thread under SCHED_FIFO at `priority`; throws SchedulingError when the kernel refuses. */
export function useRealtimePriority(priority: number): void {
  if (!Number.isInteger(priority) || priority < MIN_REALTIME_PRIORITY || priority > MAX_REALTIME_PRIORITY) {
    throw new SchedulingError(`real-time priority ${priority} is out of range`, `use a whole number from ${MIN_REALTIME_PRIORITY} to ${MAX_REALTIME_PRIORITY}`);
  }
  let addon;
  try {
    addon = loadNativeAddon();
  } catch (err) {
    throw new SchedulingError(`real-time priority needs the native addon: ${(err as Error).message}`, 'build it with "npm rebuild" or drop --realtime-priority');
  }
  const failure = addon.setThreadScheduling('fifo', priority);
  if (failure !== '') {
    throw new SchedulingError(
      `the kernel refused real-time priority ${priority}: ${failure}`,
      'run as root or give node CAP_SYS_NICE (setcap cap_net_raw,cap_sys_nice+ep "$(command -v node)"), or drop --realtime-priority',
    );
  }
}
