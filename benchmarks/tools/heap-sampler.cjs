// Preloaded into a measured process (`BENCH_NODE_OPTIONS="--require <this file>"`): V8's sampling heap
// profiler runs from the start, keeping what minor and major collections took, so the profile counts
// every object allocated on the JavaScript heap (not the bytes behind Buffers). Written at exit to
// `$SLUICE_HEAP_PROFILE_DIR/<pid>.heapprofile` (default: the system's temporary directory); read it with
// `npx tsx benchmarks/tools/heapprofile.ts <file> --messages N`.
const inspector = require("node:inspector")
const fs = require("node:fs")
const os = require("node:os")
const path = require("node:path")

const session = new inspector.Session()
session.connect()
session.post("HeapProfiler.startSampling", {
  samplingInterval: 4096,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true
})
let written = false
const write = () => {
  if (written) return
  written = true
  session.post("HeapProfiler.stopSampling", (error, result) => {
    if (error) return
    const directory = process.env.SLUICE_HEAP_PROFILE_DIR ?? os.tmpdir()
    fs.writeFileSync(path.join(directory, `${process.pid}.heapprofile`), JSON.stringify(result.profile))
  })
}
process.on("exit", write)
