/** The version `vppkit --version` prints (the package's). */
export const version = "0.1.0"

/**
 * Whether the line asks for the version: `-V`, `--version` or `version` first. The bin answers it without
 * loading any command (see bin.ts); {@link Cli.route} decides the same.
 */
export const isVersionRequest = (args: ReadonlyArray<string>): boolean => {
  const first = args[0]
  return first === "-V" || first === "--version" || first === "version"
}
