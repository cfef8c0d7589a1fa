/**
 * @since 0.1.0
 */
export * as SqlMigrations from "./SqlMigrations.js"
export * as SqlSyncStore from "./SqlSyncStore.js"
export * as Sync from "./Sync.js"
export * as SyncStore from "./SyncStore.js"
