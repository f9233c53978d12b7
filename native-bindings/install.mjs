#!/usr/bin/env node
/**
 * Builds the native addon (build/Release/offpath_native.node) during `npm install` / `npm ci`; run it again with
 * `npm run install`. OFFPATH_SKIP_NATIVE=1 skips the build (offpath then reads capture files and uses the `cap`
 * backend for live capture). A failed build fails the install with a message that says what is missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

if (process.env.OFFPATH_SKIP_NATIVE === '1') {
  console.warn('offpath: OFFPATH_SKIP_NATIVE=1, not building the native capture addon (native-bindings/).');
  process.exit(0);
}

function onPath(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

const missing = [];
if (!['/usr/include/pcap/pcap.h', '/usr/include/pcap.h', '/usr/local/include/pcap/pcap.h'].some((p) => existsSync(p))) {
  missing.push('libpcap headers (Debian/Ubuntu: apt-get install libpcap-dev; RHEL: dnf install libpcap-devel)');
}
for (const tool of ['python3', 'make', 'g++']) if (!onPath(tool)) missing.push(tool);

// npm puts its bundled node-gyp in npm_config_node_gyp for lifecycle scripts.
const gyp = process.env.npm_config_node_gyp;
const [command, args] = gyp && existsSync(gyp)
  ? [process.execPath, [gyp, 'rebuild', '--directory', here]]
  : ['node-gyp', ['rebuild', '--directory', here]];
const result = missing.length > 0 ? { status: 1 } : spawnSync(command, args, { stdio: 'inherit' });

if (result.status !== 0) {
  const lines = [
    '',
    'offpath: building the native capture addon (native-bindings/) FAILED.',
    missing.length > 0 ? `  Missing: ${missing.join(', ')}.` : '  See the compiler output above.',
    '  It needs libpcap-dev, python3, make and g++. Install them and run: npm run install',
    '  To install without it (replay of capture files still works, live capture then needs --backend cap):',
    '    OFFPATH_SKIP_NATIVE=1 npm ci',
    '',
  ];
  console.error(lines.join('\n'));
  process.exit(1);
}
const built = join(here, 'build', 'Release', 'offpath_native.node');
if (!existsSync(built)) {
  console.error(`offpath: node-gyp reported success but ${built} is missing.`);
  process.exit(1);
}
