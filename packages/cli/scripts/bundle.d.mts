/** The bundled CLI, `dist/vppkit.js`. */
export declare const outfile: string
/** Builds {@link outfile} from `dist/bin.js`. */
export declare const bundle: () => Promise<unknown>
