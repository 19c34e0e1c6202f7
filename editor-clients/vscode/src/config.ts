import * as vscode from "vscode";

export const section = "ollamaAgent";

/** Keys of the server's settings model (camelCase, as the server validates them). */
const serverSettingKeys = [
    "backend",
    "ollamaUrl",
    "baseUrl",
    "apiKey",
    "apiKeyEnv",
    "contextLength",
    "model",
    "editFormat",
    "numCtx",
    "maxNumCtx",
    "keepAlive",
    "think",
    "options",
    "headers",
    "maxTurns",
    "applyMode",
    "commandApproval",
    "allowedCommands",
    "sandbox",
    "sandboxNetwork",
    "sandboxDenyRead",
    "commandTimeout",
    "approvalTimeout",
    "connectTimeout",
    "readTimeout",
    "toolResultMaxChars",
    "rules",
    "rulesMaxChars",
    "readMaxBytes",
    "streamLineMaxBytes",
    "warmStart",
    "sessionsMaxCount",
    "sessionsMaxAgeDays",
    "verifyRounds",
    "transcriptUpdatesPerSecond",
    "mcpServers",
    "logLevel",
] as const;

export type ServerSettings = Partial<Record<(typeof serverSettingKeys)[number], unknown>>;

/**
 * The settings the user actually set, for initializationOptions and workspace/configuration.
 *
 * Only explicitly set values are sent: the server owns the defaults (an unset ollamaUrl lets it honour
 * OLLAMA_HOST), and extension-only keys such as `server.command` would fail its strict validation.
 */
export function serverSettings(scope?: vscode.ConfigurationScope): ServerSettings {
    const config = vscode.workspace.getConfiguration(section, scope);
    const out: ServerSettings = {};
    for (const key of serverSettingKeys) {
        const inspected = config.inspect(key);
        const value =
            inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
        if (value !== undefined && value !== null) {
            out[key] = value;
        }
    }
    return out;
}

/** The model runs use: the configured one, else the server's default. */
export function configuredModel(): string {
    return vscode.workspace.getConfiguration(section).get<string>("model") || "qwen3:8b";
}

/** `ollamaAgent.server.command` when it is a non-empty argv array of strings. */
export function serverCommandSetting(): string[] | undefined {
    const value = vscode.workspace.getConfiguration(section).get<unknown>("server.command");
    if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string" && v)) {
        return value as string[];
    }
    return undefined;
}

/** Where Select Model writes: the workspace when it already overrides the model, else the user. */
export async function setModel(model: string): Promise<void> {
    const config = vscode.workspace.getConfiguration(section);
    const inspected = config.inspect("model");
    const target =
        inspected?.workspaceValue !== undefined
            ? vscode.ConfigurationTarget.Workspace
            : vscode.ConfigurationTarget.Global;
    await config.update("model", model, target);
}
