#!/usr/bin/env node
// Placeholder until the CLI issue lands: say so honestly and fail.
process.stderr.write("vppkit: the CLI is not built yet (`vppkit demo` arrives with the CLI issue)\n")
process.exitCode = 1
