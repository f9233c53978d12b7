/** HOST:PORT for --listen / --api (IPv6 hosts in brackets: [::1]:8443). */
import { UsageError } from '../util/errors.js';

export function parseListen(text: string, option = 'listen'): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--${option} must be HOST:PORT (e.g. 127.0.0.1:8443 or [::1]:8443), got ${JSON.stringify(text.slice(0, 80))}`);
  const host = m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!);
  return { host, port };
}
