//! How much a firewall ruleset filters incoming traffic, read from
//! `nft -j list ruleset`, from an nftables script (`/etc/nftables.conf`) or
//! from `iptables-save` output.
//!
//! "Filters incoming traffic" means: a base chain of type `filter` on the
//! `input` hook has at least one rule or a `drop` policy. Rules elsewhere
//! (NAT, forwarding for containers) do not protect the host, and a chain
//! with neither rules nor a drop policy accepts everything.

use std::collections::HashMap;

/// Filtering of incoming traffic found in a ruleset.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InputFilter {
    /// Rules in input-hook filter chains.
    pub rules: usize,
    /// Whether an input-hook filter chain drops what no rule accepts.
    pub drop_policy: bool,
}

impl InputFilter {
    /// Whether incoming traffic is filtered at all.
    pub fn active(&self) -> bool {
        self.rules > 0 || self.drop_policy
    }

    /// "3 input rules, policy drop" for evidence.
    pub fn describe(&self) -> String {
        format!(
            "{} input rule{}{}",
            self.rules,
            if self.rules == 1 { "" } else { "s" },
            if self.drop_policy {
                ", policy drop"
            } else {
                ""
            }
        )
    }

    fn add(&mut self, other: &InputFilter) {
        self.rules += other.rules;
        self.drop_policy |= other.drop_policy;
    }
}

/// (family, table, chain).
type ChainKey = (String, String, String);

#[derive(Debug, Default)]
struct ChainInfo {
    input_filter: bool,
    drop: bool,
    rules: usize,
}

fn total(chains: &HashMap<ChainKey, ChainInfo>) -> InputFilter {
    let mut f = InputFilter::default();
    for c in chains.values().filter(|c| c.input_filter) {
        f.add(&InputFilter {
            rules: c.rules,
            drop_policy: c.drop,
        });
    }
    f
}

/// Reads the JSON of `nft -j list ruleset`.
pub fn from_json(text: &str) -> Result<InputFilter, String> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("nft printed JSON it could not parse: {e}"))?;
    let items = v
        .get("nftables")
        .and_then(|n| n.as_array())
        .ok_or("nft JSON without an `nftables` list")?;
    let s =
        |o: &serde_json::Value, k: &str| o.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
    let mut chains: HashMap<ChainKey, ChainInfo> = HashMap::new();
    for item in items {
        if let Some(c) = item.get("chain") {
            let info = chains
                .entry((s(c, "family"), s(c, "table"), s(c, "name")))
                .or_default();
            info.input_filter |= s(c, "type") == "filter" && s(c, "hook") == "input";
            info.drop |= s(c, "policy") == "drop";
        } else if let Some(r) = item.get("rule") {
            chains
                .entry((s(r, "family"), s(r, "table"), s(r, "chain")))
                .or_default()
                .rules += 1;
        }
    }
    Ok(total(&chains))
}

const FAMILIES: &[&str] = &["ip", "ip6", "inet", "arp", "bridge", "netdev"];

/// `[family] table [chain]` after a keyword, with nft's default family.
fn names(words: &[String], with_chain: bool) -> Option<ChainKey> {
    let (family, rest) = match words.first() {
        Some(f) if FAMILIES.contains(&f.as_str()) => (f.clone(), &words[1..]),
        _ => ("ip".to_owned(), words),
    };
    let table = rest.first()?.clone();
    let chain = if with_chain {
        rest.get(1)?.clone()
    } else {
        String::new()
    };
    Some((family, table, chain))
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Open,
    Close,
    /// `;` or a line end.
    End,
}

fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars().peekable();
    let flush = |word: &mut String, out: &mut Vec<Token>| {
        if !word.is_empty() {
            out.push(Token::Word(std::mem::take(word)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                flush(&mut word, &mut out);
                out.push(Token::End);
            }
            '"' => {
                word.push(c);
                for c in chars.by_ref() {
                    word.push(c);
                    if c == '"' {
                        break;
                    }
                }
            }
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
                flush(&mut word, &mut out);
            }
            '{' | '}' | ';' | '\n' => {
                flush(&mut word, &mut out);
                out.push(match c {
                    '{' => Token::Open,
                    '}' => Token::Close,
                    _ => Token::End,
                });
            }
            c if c.is_whitespace() => flush(&mut word, &mut out),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    out
}

#[derive(Debug)]
enum Block {
    Table(String, String),
    Chain(ChainKey),
    /// An anonymous set or map inside a rule: `tcp dport { 22, 80 } accept`.
    InRule,
    /// Sets, maps, `define`s and the like: nothing about filtering.
    Other,
}

/// Reads an nftables script such as `/etc/nftables.conf`: the declarative
/// form (`table inet filter { chain input { type filter hook input ...;
/// policy drop; rules } }`) and the command form (`add chain ...`, `add
/// rule ...`). `include` lines are not followed.
pub fn from_script(text: &str) -> InputFilter {
    let mut chains: HashMap<ChainKey, ChainInfo> = HashMap::new();
    let mut stack: Vec<Block> = Vec::new();
    let mut stmt: Vec<String> = Vec::new();

    fn finish(stmt: &mut Vec<String>, stack: &[Block], chains: &mut HashMap<ChainKey, ChainInfo>) {
        if stmt.is_empty() {
            return;
        }
        match stack.last() {
            Some(Block::Chain(key)) => {
                let info = chains.entry(key.clone()).or_default();
                match stmt[0].as_str() {
                    "type" => {
                        let hook = stmt.iter().position(|w| w == "hook");
                        info.input_filter |= stmt.get(1).is_some_and(|t| t == "filter")
                            && hook
                                .and_then(|h| stmt.get(h + 1))
                                .is_some_and(|h| h == "input");
                        if let Some(p) = stmt.iter().position(|w| w == "policy") {
                            info.drop |= stmt.get(p + 1).is_some_and(|p| p == "drop");
                        }
                    }
                    "policy" => info.drop |= stmt.get(1).is_some_and(|p| p == "drop"),
                    "comment" | "devices" | "priority" => {}
                    _ => info.rules += 1,
                }
            }
            None => {
                let verb = stmt[0].as_str();
                if matches!(verb, "add" | "insert")
                    && stmt.get(1).is_some_and(|w| w == "rule")
                    && let Some(key) = names(&stmt[2..], true)
                {
                    chains.entry(key).or_default().rules += 1;
                }
            }
            _ => {}
        }
        stmt.clear();
    }

    for t in tokens(text) {
        match t {
            Token::Word(w) => stmt.push(w),
            Token::End => {
                if !matches!(stack.last(), Some(Block::InRule)) {
                    finish(&mut stmt, &stack, &mut chains);
                }
            }
            Token::Open => {
                let first = stmt.first().map(String::as_str);
                let block = match (stack.last(), first) {
                    (None, Some("table")) => names(&stmt[1..], false)
                        .map_or(Block::Other, |(f, t, _)| Block::Table(f, t)),
                    (None, Some("add" | "create")) if stmt.get(1).is_some_and(|w| w == "chain") => {
                        names(&stmt[2..], true).map_or(Block::Other, Block::Chain)
                    }
                    (None, Some("add" | "create")) if stmt.get(1).is_some_and(|w| w == "table") => {
                        names(&stmt[2..], false)
                            .map_or(Block::Other, |(f, t, _)| Block::Table(f, t))
                    }
                    (Some(Block::Table(f, t)), Some("chain")) => match stmt.get(1) {
                        Some(c) => Block::Chain((f.clone(), t.clone(), c.clone())),
                        None => Block::Other,
                    },
                    (Some(Block::Chain(_) | Block::InRule), Some(_)) => Block::InRule,
                    _ => Block::Other,
                };
                if let Block::Chain(key) = &block {
                    chains.entry(key.clone()).or_default();
                }
                if !matches!(block, Block::InRule) {
                    stmt.clear();
                }
                stack.push(block);
            }
            Token::Close => {
                match stack.last() {
                    Some(Block::InRule) => {}
                    _ => finish(&mut stmt, &stack, &mut chains),
                }
                stack.pop();
                if !matches!(stack.last(), Some(Block::InRule | Block::Chain(_))) {
                    stmt.clear();
                }
            }
        }
    }
    finish(&mut stmt, &stack, &mut chains);
    total(&chains)
}

/// Reads `iptables-save` output (or `/etc/iptables/rules.v4`): the
/// `INPUT` chain of the `filter` table.
pub fn from_iptables_save(text: &str) -> InputFilter {
    let mut table = "";
    let mut f = InputFilter::default();
    for line in text.lines().map(str::trim) {
        if let Some(t) = line.strip_prefix('*') {
            table = t;
        } else if table == "filter" {
            let mut w = line.split_whitespace();
            match (w.next(), w.next()) {
                (Some(":INPUT"), Some(policy)) => f.drop_policy |= policy == "DROP",
                (Some("-A" | "-I"), Some("INPUT")) => f.rules += 1,
                _ => {}
            }
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_counts_input_rules_only() {
        let j = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "inet", "name": "swtest", "handle": 1}},
            {"chain": {"family": "inet", "table": "swtest", "name": "input", "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
            {"rule": {"family": "inet", "table": "swtest", "chain": "input", "expr": []}},
            {"chain": {"family": "ip", "table": "nat", "name": "POSTROUTING", "type": "nat", "hook": "postrouting", "policy": "accept"}},
            {"rule": {"family": "ip", "table": "nat", "chain": "POSTROUTING", "expr": []}}]}"#;
        assert_eq!(
            from_json(j).unwrap(),
            InputFilter {
                rules: 1,
                drop_policy: false
            }
        );
        let empty = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}}]}"#;
        assert!(!from_json(empty).unwrap().active());
        assert!(from_json("nope").is_err());
    }

    #[test]
    fn debian_default_script_filters_nothing() {
        let t = "#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter;\n\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter;\n\t}\n\tchain output {\n\t\ttype filter hook output priority filter;\n\t}\n}\n";
        assert_eq!(from_script(t), InputFilter::default());
    }

    #[test]
    fn script_with_rules_and_sets() {
        let t = r#"
table inet filter {
    set allowed { type ipv4_addr; elements = { 10.0.0.1, 10.0.0.2 } }
    chain input {
        type filter hook input priority 0; policy drop;
        ct state established,related accept # comment
        iif "lo" accept
        tcp dport { 22,
                    80 } accept
    }
    chain output { type filter hook output priority 0; policy accept; meta l4proto tcp accept; }
}
table ip nat { chain post { type nat hook postrouting priority 100; masquerade } }
"#;
        assert_eq!(
            from_script(t),
            InputFilter {
                rules: 3,
                drop_policy: true
            }
        );
    }

    #[test]
    fn script_in_command_form() {
        let t = "add table inet fw\nadd chain inet fw in { type filter hook input priority 0 ; }\nadd rule inet fw in tcp dport 22 accept\nadd rule fw other counter\n";
        assert_eq!(from_script(t).rules, 1);
        let t =
            "table filter {\n chain input { type filter hook input priority 0; policy drop; }\n}\n";
        assert_eq!(
            from_script(t),
            InputFilter {
                rules: 0,
                drop_policy: true
            }
        );
    }

    #[test]
    fn iptables_save_input_chain() {
        let t = "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j DOCKER\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n-A FORWARD -j DOCKER-USER\nCOMMIT\n";
        assert!(!from_iptables_save(t).active());
        let t = "*filter\n:INPUT DROP [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n";
        assert_eq!(
            from_iptables_save(t),
            InputFilter {
                rules: 2,
                drop_policy: true
            }
        );
    }
}
