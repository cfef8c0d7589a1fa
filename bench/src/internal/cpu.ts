/** CPU time from /proc (Linux): of a process, and of the whole machine, for the items that run several processes. */
import * as fs from "node:fs"

/** Clock ticks per second of /proc's times (`getconf CLK_TCK`: 100 on Linux for x86 and arm64). */
const ticksPerSecond = 100

/** User + system CPU time of process `pid` so far (ms), or `undefined` once it is gone or off Linux. */
export const processCpuMillis = (pid: number): number | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    // the command name (field 2) may hold spaces: the fields after it are counted from its closing parenthesis
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond
  } catch {
    return undefined
  }
}

export interface MachineCpu {
  /** Every core's busy time (user, nice, system, irq, softirq, steal), ms. */
  readonly busy: number
  /** Every core's time, busy or idle (iowait counted as idle), ms. */
  readonly total: number
}

/** The machine's CPU time so far, all cores (/proc/stat), or `undefined` off Linux. */
export const machineCpu = (): MachineCpu | undefined => {
  try {
    const line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number)
    const busy = user! + nice! + system! + irq! + softirq! + steal!
    return { busy: (busy * 1000) / ticksPerSecond, total: ((busy + idle! + iowait!) * 1000) / ticksPerSecond }
  } catch {
    return undefined
  }
}
