// The chat panel's stylesheet takes every colour from VS Code's theme variables: VS Code sets them on the
// webview's page and changes them with the theme, so a theme change restyles the panel and nothing stays in a
// colour of its own.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, test } from "vitest";

const css = readFileSync(path.join(__dirname, "../../media/chat.css"), "utf8").replace(/\/\*[\s\S]*?\*\//g, "");

/** Every `property: value` in the stylesheet, with the rule it is in. */
function declarations(source: string): { rule: string; property: string; value: string }[] {
    const out: { rule: string; property: string; value: string }[] = [];
    for (const [, rule, body] of source.matchAll(/([^{}]+)\{([^{}]*)\}/g)) {
        for (const part of body!.split(";")) {
            const colon = part.indexOf(":");
            if (colon < 0) continue;
            out.push({ rule: rule!.trim(), property: part.slice(0, colon).trim().toLowerCase(), value: part.slice(colon + 1).trim() });
        }
    }
    return out;
}

/** The value with each `var(--name` and its closing parenthesis taken out: what is left are the fallbacks and the rest. */
function withoutVars(value: string): string {
    return value.replace(/var\(\s*--[\w-]+\s*,?/g, " VAR ").replace(/\)/g, " ");
}

const colourProperty =
    /^(color|background(-color)?|border(-(top|right|bottom|left|block|inline)(-(start|end))?)?(-color)?|outline(-color)?|box-shadow|text-shadow|text-decoration(-color)?|caret-color|accent-color|fill|stroke|column-rule(-color)?|scrollbar-color)$/;
/** What may stand next to the theme's colours: sizes, line styles and keywords that are no colour of their own. */
const notAColour = /^(VAR|transparent|inherit|currentcolor|none|initial|unset|solid|dashed|dotted|double|underline|overline|line-through|-?\d*\.?\d+(px|em|rem|%)?)$/i;

describe("media/chat.css follows the VS Code theme", () => {
    const decls = declarations(css);

    test("the stylesheet is read whole", () => {
        expect(decls.length).toBeGreaterThan(50);
        expect(decls.filter((d) => d.property === "color").length).toBeGreaterThan(10);
    });

    test("every colour is a --vscode-* variable (or transparent / inherit)", () => {
        const own = decls
            .filter((d) => colourProperty.test(d.property))
            .filter((d) => withoutVars(d.value).split(/[\s,]+/).filter(Boolean).some((token) => !notAColour.test(token)))
            .map((d) => `${d.rule} { ${d.property}: ${d.value} }`);
        expect(own).toEqual([]);
    });

    test("no colour literal anywhere, and no variable but VS Code's", () => {
        expect(css.match(/#[0-9a-f]{3,8}\b/gi) ?? []).toEqual([]);
        expect(css.match(/\b(rgba?|hsla?|hwb|lab|lch|oklab|oklch|color)\(/gi) ?? []).toEqual([]);
        const vars = [...css.matchAll(/var\(\s*(--[\w-]+)/g)].map((m) => m[1]!);
        expect(vars.length).toBeGreaterThan(40);
        expect(vars.filter((v) => !v.startsWith("--vscode-"))).toEqual([]);
        // The page defines no custom properties of its own that could carry a fixed colour.
        expect(decls.filter((d) => d.property.startsWith("--"))).toEqual([]);
    });

    test("the page's text and background are the theme's", () => {
        const body = decls.filter((d) => d.rule === "body");
        expect(body).toContainEqual(expect.objectContaining({ property: "color", value: "var(--vscode-foreground)" }));
        expect(body.find((d) => d.property === "background")!.value).toMatch(/^var\(--vscode-sideBar-background/);
        expect(body.find((d) => d.property === "font-family")!.value).toBe("var(--vscode-font-family)");
    });
});
