// Markdown to HTML for the chat panel, from untrusted model output. Every piece of text is escaped before any
// markup is added, so nothing the model writes becomes an element or an attribute; links are kept only for
// http(s). Code blocks get a small keyword/string/comment/number highlighter (no network, no dependency).

export function escapeHtml(text: string): string {
    return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const keywords = new Set(
    (
        "and as assert async await break case catch class const continue def del do elif else enum except export " +
        "extends false False fn for from func function go if impl import in interface is lambda let loop match mod " +
        "mut new nil None not null or package pass pub raise return self static struct super switch this throw " +
        "trait true True try type typeof undefined use var void while with yield"
    ).split(" "),
);

// One alternative per token kind, tried left to right: comments, strings, numbers, words.
const token =
    /(\/\/[^\n]*|#[^\n]*|\/\*[\s\S]*?\*\/|--[^\n]*)|("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`)|(\b\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?\b|\b0x[0-9a-f]+\b)|([A-Za-z_][\w]*)/gi;

const hashComments = new Set(["python", "py", "sh", "bash", "shell", "zsh", "ruby", "rb", "yaml", "yml", "toml", "perl", "r", "make", "makefile", "dockerfile", ""]);
const dashComments = new Set(["sql", "lua", "haskell", "hs"]);

/** `code` as HTML with spans per token class (hl-kw, hl-str, hl-com, hl-num). */
export function highlight(code: string, language = ""): string {
    const lang = language.toLowerCase();
    let out = "";
    let last = 0;
    for (const m of code.matchAll(token)) {
        const [text, comment, string, number, word] = m;
        const at = m.index ?? 0;
        let cls: string | undefined;
        if (comment !== undefined) {
            const hash = comment.startsWith("#");
            const dash = comment.startsWith("--");
            if ((hash && !hashComments.has(lang)) || (dash && !dashComments.has(lang))) {
                // Not a comment in this language: leave the character, go on after it.
                continue;
            }
            cls = "hl-com";
        } else if (string !== undefined) {
            cls = "hl-str";
        } else if (number !== undefined) {
            cls = "hl-num";
        } else if (word !== undefined && keywords.has(word)) {
            cls = "hl-kw";
        }
        if (!cls) {
            continue;
        }
        out += escapeHtml(code.slice(last, at)) + `<span class="${cls}">${escapeHtml(text)}</span>`;
        last = at + text.length;
    }
    return out + escapeHtml(code.slice(last));
}

/** Inline markdown of one escaped line: `code`, **bold**, *em*, [text](http url). */
function inline(raw: string): string {
    const parts: string[] = [];
    // Code spans first, so their contents are never read as other markup.
    const pieces = raw.split(/(`[^`\n]+`)/);
    for (const piece of pieces) {
        if (piece.length > 1 && piece.startsWith("`") && piece.endsWith("`")) {
            parts.push(`<code>${escapeHtml(piece.slice(1, -1))}</code>`);
            continue;
        }
        let html = escapeHtml(piece);
        html = html.replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
        html = html.replace(/(^|[^*\w])\*([^*\s][^*]*)\*(?!\w)/g, "$1<em>$2</em>");
        html = html.replace(/\[([^\]]+)\]\((https?:\/\/[^\s()&]+(?:&#38;[^\s()&]+)*)\)/g, '<a href="$2">$1</a>');
        parts.push(html);
    }
    return parts.join("");
}

/** A whole markdown text as HTML. An unclosed code fence (a reply still streaming) runs to the end. */
export function renderMarkdown(text: string): string {
    const lines = text.replace(/\r\n/g, "\n").split("\n");
    const out: string[] = [];
    let paragraph: string[] = [];
    let list: { ordered: boolean; items: string[] } | undefined;
    const flushParagraph = () => {
        if (paragraph.length) {
            out.push(`<p>${paragraph.map(inline).join("<br>")}</p>`);
            paragraph = [];
        }
    };
    const flushList = () => {
        if (list) {
            const tag = list.ordered ? "ol" : "ul";
            out.push(`<${tag}>${list.items.map((i) => `<li>${inline(i)}</li>`).join("")}</${tag}>`);
            list = undefined;
        }
    };
    for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!;
        const fence = /^\s*(```+|~~~+)\s*([\w+#.-]*)/.exec(line);
        if (fence) {
            flushParagraph();
            flushList();
            const marker = fence[1]!;
            const code: string[] = [];
            i++;
            while (i < lines.length && !lines[i]!.trim().startsWith(marker)) {
                code.push(lines[i]!);
                i++;
            }
            const lang = fence[2] ?? "";
            const cls = lang ? ` class="lang-${escapeHtml(lang)}"` : "";
            out.push(`<pre><code${cls}>${highlight(code.join("\n"), lang)}</code></pre>`);
            continue;
        }
        const heading = /^(#{1,6})\s+(.*)$/.exec(line);
        const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
        const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
        if (heading) {
            flushParagraph();
            flushList();
            const level = Math.min(heading[1]!.length + 2, 6); // small headings in a side panel
            out.push(`<h${level}>${inline(heading[2]!)}</h${level}>`);
        } else if (bullet || numbered) {
            flushParagraph();
            const ordered = !bullet;
            if (list && list.ordered !== ordered) {
                flushList();
            }
            list ??= { ordered, items: [] };
            list.items.push((bullet ?? numbered)![1]!);
        } else if (/^\s*>/.test(line)) {
            flushParagraph();
            flushList();
            out.push(`<blockquote>${inline(line.replace(/^\s*>\s?/, ""))}</blockquote>`);
        } else if (!line.trim()) {
            flushParagraph();
            flushList();
        } else {
            flushList();
            paragraph.push(line);
        }
    }
    flushParagraph();
    flushList();
    return out.join("");
}

/** A unified diff as HTML lines classed by kind (add, del, hunk, file). */
export function renderDiff(diff: string): string {
    const lines = diff.replace(/\n$/, "").split("\n");
    return lines
        .map((line) => {
            const cls = line.startsWith("+++") || line.startsWith("---")
                ? "file"
                : line.startsWith("@@")
                  ? "hunk"
                  : line.startsWith("+")
                    ? "add"
                    : line.startsWith("-")
                      ? "del"
                      : "ctx";
            return `<span class="diff-${cls}">${escapeHtml(line)}</span>`;
        })
        .join("\n");
}
