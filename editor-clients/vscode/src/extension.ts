import * as vscode from "vscode";
import { registerCommands } from "./commands";
import { Ctx } from "./ctx";

let ctx: Ctx | undefined;

/** The API other extensions (and the end-to-end tests) can use. */
export interface OllamaAgentApi {
    readonly ctx: Ctx;
}

export async function activate(context: vscode.ExtensionContext): Promise<OllamaAgentApi> {
    ctx = new Ctx(context);
    context.subscriptions.push(ctx, ...registerCommands(ctx));
    // Start eagerly so the TODO quick fix is in the lightbulb without running a command first. A failure
    // was already shown to the user with its fix; activation itself must not fail.
    void ctx.ensureClient().catch(() => undefined);
    return { ctx };
}

export async function deactivate(): Promise<void> {
    await ctx?.stop();
    ctx = undefined;
}
