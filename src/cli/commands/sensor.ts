import { ExitCode } from '../../util/errors.js';
import { parseSensorArgs, sensorHelp, validateSensorValues, workerCount } from '../../sensor/sensor-options.js';

export { sensorHelp };

export async function sensorCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseSensorArgs(argv);
  if (values.help) {
    process.stdout.write(sensorHelp + '\n');
    return ExitCode.ok;
  }
  validateSensorValues(values, positionals);
  if (workerCount(values) > 1) {
    const { runSensorPool } = await import('../../sensor/sensor-pool.js');
    return runSensorPool(argv, values);
  }
  const { runSensor } = await import('../../sensor/run-sensor.js');
  return runSensor(values);
}
