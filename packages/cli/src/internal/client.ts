/** The client of the commands that talk to Apple, on undici (loaded with the command that runs). */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as VppClient from "@vppkit/core/VppClient"
import * as NodeVppClient from "@vppkit/node/NodeVppClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { TokenError } from "../ExitCode.js"
import type { Globals } from "./globals.js"
import * as Reporting from "./reporting.js"
import { loadSettings } from "./settings.js"

/**
 * The client for a command: settings from {@link loadSettings}, then the undici client, which prints a line per
 * request with `--verbose` and a line per retry when stderr is a terminal (unless `--quiet`).
 */
export const makeClient = (
  globals: Globals,
  options: Omit<NodeVppClient.Options, "token" | "baseUrl"> = {}
): Effect.Effect<VppClient.Service, VppClient.ConfigurationError | TokenError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.flatMap(
    loadSettings(globals),
    (settings) => NodeVppClient.make({ ...options, ...Reporting.clientEvents(globals), ...settings })
  )

/** {@link makeClient} as a layer. */
export const clientLayer = (
  globals: Globals,
  options: Omit<NodeVppClient.Options, "token" | "baseUrl"> = {}
): Layer.Layer<VppClient.VppClient, VppClient.ConfigurationError | TokenError, FileSystem.FileSystem> =>
  Layer.scoped(VppClient.VppClient, makeClient(globals, options))
