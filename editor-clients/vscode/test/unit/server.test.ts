import { describe, expect, test } from "vitest";
import { discoverServer, ServerNotFoundError, type DiscoveryDeps } from "../../src/server";

function deps(overrides: Partial<DiscoveryDeps> & { files?: string[]; importable?: string[] } = {}): DiscoveryDeps {
    const files = new Set(overrides.files ?? []);
    const importable = new Set(overrides.importable ?? []);
    return {
        setting: undefined,
        env: { PATH: "/usr/local/bin:/usr/bin" },
        platform: "linux",
        pythonExtensionInterpreter: async () => undefined,
        isExecutable: async (file) => files.has(file),
        canImportServer: async (python) => importable.has(python.join(" ")),
        ...overrides,
    };
}

describe("server discovery", () => {
    test("the setting wins over everything", async () => {
        const launch = await discoverServer(
            deps({ setting: ["/opt/py", "-m", "ollama_agent_ls"], files: ["/usr/bin/ollama-agent-ls"] }),
        );
        expect(launch).toEqual({ argv: ["/opt/py", "-m", "ollama_agent_ls"], source: "setting" });
    });

    test("then ollama-agent-ls on PATH, first directory first", async () => {
        const launch = await discoverServer(
            deps({ files: ["/usr/bin/ollama-agent-ls", "/usr/local/bin/ollama-agent-ls"] }),
        );
        expect(launch).toEqual({ argv: ["/usr/local/bin/ollama-agent-ls"], source: "path" });
    });

    test("then the Python extension's interpreter when it can import the package", async () => {
        const launch = await discoverServer(
            deps({
                pythonExtensionInterpreter: async () => ["/ws/.venv/bin/python"],
                importable: ["/ws/.venv/bin/python"],
                files: ["/usr/bin/python3"],
            }),
        );
        expect(launch).toEqual({ argv: ["/ws/.venv/bin/python", "-m", "ollama_agent_ls"], source: "python-extension" });
    });

    test("then python3 on PATH if it has the package", async () => {
        const launch = await discoverServer(
            deps({
                pythonExtensionInterpreter: async () => ["/ws/.venv/bin/python"],
                files: ["/usr/bin/python3"],
                importable: ["/usr/bin/python3"],
            }),
        );
        expect(launch).toEqual({ argv: ["/usr/bin/python3", "-m", "ollama_agent_ls"], source: "python-on-path" });
    });

    test("on Windows PATHEXT is honoured", async () => {
        const launch = await discoverServer(
            deps({
                platform: "win32",
                env: { Path: "C:\\py\\Scripts", PATHEXT: ".EXE;.CMD" },
                files: ["C:\\py\\Scripts/ollama-agent-ls.EXE", "C:\\py\\Scripts\\ollama-agent-ls.EXE"],
            }),
        );
        expect(launch.source).toBe("path");
        expect(launch.argv[0]).toMatch(/ollama-agent-ls\.EXE$/);
    });

    test("nothing found: one error naming what was tried and both fixes", async () => {
        const failing = discoverServer(
            deps({ pythonExtensionInterpreter: async () => ["/ws/.venv/bin/python"], files: ["/usr/bin/python3"] }),
        );
        await expect(failing).rejects.toBeInstanceOf(ServerNotFoundError);
        await expect(failing).rejects.toThrow(
            /tried `\/ws\/\.venv\/bin\/python -m ollama_agent_ls`, `\/usr\/bin\/python3 -m ollama_agent_ls`.*pip install ollama-agent-ls.*"ollamaAgent\.server\.command"/,
        );
    });
});
