/**
 * Loaded into a CLI process with `node --import …/rssReport.js` by item 3: when the process exits, writes its
 * peak resident set size and its CPU time to the file `VPPKIT_BENCH_RSS_FILE` names, as JSON
 * (`{ maxRssBytes, cpuMillis }`). It adds a listener and nothing else to the process it measures.
 */
import * as fs from "node:fs"

const file = process.env["VPPKIT_BENCH_RSS_FILE"]
if (file !== undefined) {
  process.on("exit", () => {
    const usage = process.resourceUsage()
    fs.writeFileSync(file, JSON.stringify({ maxRssBytes: usage.maxRSS * 1024, cpuMillis: (usage.userCPUTime + usage.systemCPUTime) / 1000 }))
  })
}
