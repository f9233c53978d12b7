#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { ExitCode, OffpathError, OutputClosedError, UsageError } from '../util/errors.js';
import { replayCommand } from './commands/replay.js';

const mainHelp = `Usage: offpath COMMAND [options]

offpath watches mirrored traffic, tracks every L4 session, matches sessions against threat intel and
kills the ones that match with TCP resets, without ever sitting inline.

Commands:
  replay FILE...   run capture files through the pipeline and summarise
  sensor           watch a mirror port live and kill sessions that match the intel
  intel            manage the fleet's intel in Redis: add, remove, list, import, export, status
  api              serve the blocking API for SOC platforms (HTTP, OpenAPI at /docs)
  token            create, list and revoke API tokens
  version          print the version
  help [COMMAND]   help for a command

Run "offpath COMMAND --help" for the options of a command.`;

type Command = { run: (argv: string[]) => number | Promise<number>; help: string };

async function loadCommands(): Promise<Record<string, Command>> {
  const { replayHelp } = await import('./commands/replay.js');
  const sensor = await import('./commands/sensor.js');
  const intel = await import('./commands/intel.js');
  const api = await import('./commands/api.js');
  const token = await import('./commands/token.js');
  return {
    replay: { run: replayCommand, help: replayHelp },
    sensor: { run: sensor.sensorCommand, help: sensor.sensorHelp },
    intel: { run: intel.intelCommand, help: intel.intelHelp },
    api: { run: api.apiCommand, help: api.apiHelp },
    token: { run: token.tokenCommand, help: token.tokenHelp },
    version: { run: () => (process.stdout.write(version() + '\n'), ExitCode.ok), help: 'Usage: offpath version\n\nPrints the version of offpath.' },
  };
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const commands = await loadCommands();
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(mainHelp + '\n');
    return name ? ExitCode.ok : ExitCode.usage;
  }
  if (name === '--version') return commands.version!.run([]);
  if (name === 'help') {
    const topic = rest[0];
    process.stdout.write((topic && commands[topic] ? commands[topic]!.help : mainHelp) + '\n');
    return topic && !commands[topic] ? ExitCode.usage : ExitCode.ok;
  }
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command "${name}"`, 'run "offpath --help" for the list of commands');
  if (name === 'version' && rest.includes('--help')) {
    process.stdout.write(command.help + '\n');
    return ExitCode.ok;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof OutputClosedError) {
      process.exitCode = ExitCode.ok;
    } else if (err instanceof UsageError) {
      process.stderr.write(`offpath: ${err.message}\n`);
      process.exitCode = ExitCode.usage;
    } else if (err instanceof OffpathError) {
      process.stderr.write(`offpath: ${err.message}\n`);
      process.exitCode = err.code === 'capture_file' || err.code.startsWith('intel') ? ExitCode.input : err.code === 'config' ? ExitCode.usage : ExitCode.environment;
    } else {
      process.stderr.write(`offpath: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
      // Exit now: a command that failed half-way may still hold open handles (a capture, a server) that would
      // keep a half-started process alive (stderr is synchronous on pipes and files, so the message is out).
      process.exit(ExitCode.internal);
    }
  },
);
