// The test projects: one per package. Read by vitest.config.ts as `test.projects`.
export default ["packages/*"]
