// What every bench load process (load.mjs, providers.mjs) shares: its config (a JSON
// argument from the harness, bench/harness/), a microsecond clock common to all
// processes, one JSON object per stdout line, and running the workload the config names.
export const config = JSON.parse(process.argv[2])
export const nowUs = () => Number(process.hrtime.bigint() / 1000n)
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
export const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
// The line written out before the process exits: a result over 64 KiB (the 500-editor big
// room's latencies) was cut at 65,536 bytes by process.exit() while the pipe took it.
const emitted = (obj) => new Promise((resolve) => process.stdout.write(JSON.stringify(obj) + '\n', resolve))
// A marker in the text: ~<document or writer>.<sequence>.<sent at, us>~
export const MARKER = /~(\d+)\.(\d+)\.(\d+)~/g

/** Run `workloads[config.workload]`, emit its result (or the error) and exit. */
export async function runWorkload (workloads) {
  try {
    const result = await workloads[config.workload]()
    await emitted({ event: 'result', ...result })
    process.exit(0)
  } catch (error) {
    await emitted({ event: 'error', message: String(error && error.stack ? error.stack : error) })
    process.exit(1)
  }
}
