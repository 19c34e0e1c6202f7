// Finding the language server's command line. Order (rust-analyzer style): the user's setting, the
// `ollama-agent-ls` executable on PATH, `python -m ollama_agent_ls` with the Python extension's interpreter,
// then a plain `python3`/`python` on PATH that can import the package; otherwise one error naming the fix.
import { execFile } from "node:child_process";
import { constants as fsConstants, promises as fs } from "node:fs";
import * as path from "node:path";

const serverExecutable = "ollama-agent-ls";
const serverModule = "ollama_agent_ls";

export type ServerSource = "setting" | "path" | "python-extension" | "python-on-path";

export interface ServerLaunch {
    argv: string[];
    source: ServerSource;
}

/** No server could be found; the message says how to fix it. */
export class ServerNotFoundError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ServerNotFoundError";
    }
}

export interface DiscoveryDeps {
    /** `ollamaAgent.server.command`, already validated as a non-empty argv. */
    setting: string[] | undefined;
    env: NodeJS.ProcessEnv;
    platform: NodeJS.Platform;
    /** The Python extension's interpreter argv (may be several words, e.g. `conda run`). */
    pythonExtensionInterpreter: () => Promise<string[] | undefined>;
    isExecutable: (file: string) => Promise<boolean>;
    canImportServer: (python: string[]) => Promise<boolean>;
}

/** Look up an executable on PATH like a shell would. */
async function whichOnPath(
    name: string,
    env: NodeJS.ProcessEnv,
    platform: NodeJS.Platform,
    isExecutable: (file: string) => Promise<boolean>,
): Promise<string | undefined> {
    const dirs = (env.PATH ?? env.Path ?? "").split(platform === "win32" ? ";" : ":").filter(Boolean);
    const exts =
        platform === "win32" ? (env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";").filter(Boolean) : [""];
    for (const dir of dirs) {
        for (const ext of exts) {
            const candidate = path.join(dir, name + ext);
            if (await isExecutable(candidate)) {
                return candidate;
            }
        }
    }
    return undefined;
}

function notFoundMessage(triedPython: string[][]): string {
    const tried = triedPython.length
        ? ` (tried ${triedPython.map((argv) => `\`${argv.join(" ")} -m ${serverModule}\``).join(", ")})`
        : "";
    return (
        `Ollama Agent: cannot find the language server \`${serverExecutable}\`${tried}. ` +
        `Fix: install it into the Python environment VS Code uses (\`python -m pip install ollama-agent-ls\`, ` +
        `or \`pip install -e .\` in its repository) so \`${serverExecutable}\` is on PATH, or set ` +
        `"ollamaAgent.server.command" to its command line, e.g. ["/path/to/python", "-m", "${serverModule}"].`
    );
}

/** Decide how to start the server, or throw ServerNotFoundError with the fix. */
export async function discoverServer(deps: DiscoveryDeps): Promise<ServerLaunch> {
    if (deps.setting) {
        return { argv: deps.setting, source: "setting" };
    }
    const onPath = await whichOnPath(serverExecutable, deps.env, deps.platform, deps.isExecutable);
    if (onPath) {
        return { argv: [onPath], source: "path" };
    }
    const tried: string[][] = [];
    const fromExtension = await deps.pythonExtensionInterpreter().catch(() => undefined);
    if (fromExtension && fromExtension.length) {
        tried.push(fromExtension);
        if (await deps.canImportServer(fromExtension)) {
            return { argv: [...fromExtension, "-m", serverModule], source: "python-extension" };
        }
    }
    for (const name of deps.platform === "win32" ? ["python"] : ["python3", "python"]) {
        const python = await whichOnPath(name, deps.env, deps.platform, deps.isExecutable);
        if (python) {
            tried.push([python]);
            if (await deps.canImportServer([python])) {
                return { argv: [python, "-m", serverModule], source: "python-on-path" };
            }
        }
    }
    throw new ServerNotFoundError(notFoundMessage(tried));
}

export async function isExecutableFile(file: string): Promise<boolean> {
    try {
        const stat = await fs.stat(file);
        if (!stat.isFile()) {
            return false;
        }
        await fs.access(file, fsConstants.X_OK);
        return true;
    } catch {
        return false;
    }
}

/** Whether `python -c "import ollama_agent_ls"` succeeds (15 s cap: a cold venv can be slow). */
export function canImportServer(python: string[]): Promise<boolean> {
    const [command, ...args] = python;
    if (!command) {
        return Promise.resolve(false);
    }
    return new Promise((resolve) => {
        execFile(
            command,
            [...args, "-c", `import ${serverModule}`],
            { timeout: 15_000, windowsHide: true },
            (error) => resolve(!error),
        );
    });
}
