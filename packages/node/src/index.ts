/**
 * @since 0.1.0
 */
export * as NodeDatabase from "./NodeDatabase.js"
export * as NodeVppClient from "./NodeVppClient.js"
export * as SimulatorServer from "./SimulatorServer.js"
