import * as os from "node:os"

export interface Machine {
  readonly date: string
  readonly cpu: string
  readonly cores: number
  readonly memory: string
  readonly os: string
  readonly node: string
  readonly loadStart: string
  loadEnd: string
}

const load = () => os.loadavg()[0]!.toFixed(2)

export const describeMachine = (): Machine => ({
  date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  cpu: os.cpus()[0]?.model.trim() ?? "unknown CPU",
  cores: os.availableParallelism(),
  memory: `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
  os: `${os.type()} ${os.release()} ${os.arch()}`,
  node: process.version,
  loadStart: load(),
  loadEnd: ""
})

export const finishMachine = (machine: Machine): void => {
  machine.loadEnd = load()
}
