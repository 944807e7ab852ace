//! The language of a page for people: Vietnamese (the default) or English.
//!
//! Chosen by `?lang=vi|en`, else by the browser's `Accept-Language`, else
//! Vietnamese. Numbers are written the way each language writes them
//! (`1.234,5` in Vietnamese, `1,234.5` in English). Shared by the agent's
//! local page and the collector's status page, which keep their own string
//! tables.

/// A page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Tiếng Việt: the default, the language of the people who use it.
    #[default]
    Vi,
    /// English.
    En,
}

impl Lang {
    /// The code used in `?lang=` and `<html lang>`.
    pub const fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// The other language, for the language switch on every page.
    pub const fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }

    /// The language's own name, for the language switch.
    pub const fn name(self) -> &'static str {
        match self {
            Lang::Vi => "Tiếng Việt",
            Lang::En => "English",
        }
    }

    /// `vi` or `en` (any case); anything else is `None`.
    pub fn parse(code: &str) -> Option<Lang> {
        match code.trim().to_ascii_lowercase().as_str() {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The page language: `query` (the `lang` parameter) when it names one,
    /// else the first of Vietnamese and English by the browser's preference
    /// (`Accept-Language` q-values), else Vietnamese.
    pub fn negotiate(query: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(l) = query.and_then(Lang::parse) {
            return l;
        }
        let Some(header) = accept_language else {
            return Lang::default();
        };
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',').take(32) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let primary = tag.split('-').next().unwrap_or("");
            let Some(lang) = Lang::parse(primary) else {
                continue;
            };
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            // Ties keep the earlier entry, as the header lists preference.
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or_else(Lang::default, |(_, l)| l)
    }

    /// An integer with the language's thousands separator.
    pub fn integer(self, v: u64) -> String {
        let digits = v.to_string();
        let sep = match self {
            Lang::Vi => '.',
            Lang::En => ',',
        };
        let mut out = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(c);
        }
        out
    }

    /// A number with `decimals` digits after the language's decimal mark.
    pub fn number(self, v: f64, decimals: usize) -> String {
        if !v.is_finite() {
            return "-".to_owned();
        }
        let text = format!("{:.*}", decimals, v.abs());
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let mut out = String::new();
        if v < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
            out.push('-');
        }
        out.push_str(&self.integer(int.parse().unwrap_or(0)));
        if !frac.is_empty() {
            out.push(match self {
                Lang::Vi => ',',
                Lang::En => '.',
            });
            out.push_str(frac);
        }
        out
    }

    /// A share 0..=1 as a percentage with one decimal, e.g. `87,5 %`.
    pub fn percent(self, ratio: f64) -> String {
        format!("{} %", self.number(ratio * 100.0, 1))
    }

    /// A byte count in binary units (`3,8 GiB`).
    pub fn bytes(self, v: u64) -> String {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut value = v as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit < UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            format!("{} B", self.integer(v))
        } else {
            format!("{} {}", self.number(value, 1), UNITS[unit])
        }
    }

    /// A bit rate (`25,0 Mbit/s`).
    pub fn bits_per_second(self, bps: f64) -> String {
        if bps >= 1e9 {
            format!("{} Gbit/s", self.number(bps / 1e9, 2))
        } else if bps >= 1e6 {
            format!("{} Mbit/s", self.number(bps / 1e6, 1))
        } else {
            format!("{} kbit/s", self.number(bps / 1e3, 1))
        }
    }

    /// A length of time, coarse: `45 s`, `12 min`, `3 h 05 min`, `2 d 4 h`
    /// (Vietnamese `giây`, `phút`, `giờ`, `ngày`).
    pub fn duration(self, secs: u64) -> String {
        let (s, m, h, d) = match self {
            Lang::Vi => ("giây", "phút", "giờ", "ngày"),
            Lang::En => ("s", "min", "h", "d"),
        };
        match secs {
            0..60 => format!("{secs} {s}"),
            60..3600 => format!("{} {m}", secs / 60),
            3600..86_400 => format!("{} {h} {:02} {m}", secs / 3600, secs % 3600 / 60),
            _ => format!("{} {d} {} {h}", secs / 86_400, secs % 86_400 / 3600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_wins_then_accept_language_then_vietnamese() {
        assert_eq!(Lang::negotiate(Some("en"), Some("vi")), Lang::En);
        assert_eq!(
            Lang::negotiate(Some("fr"), Some("en-US,en;q=0.9")),
            Lang::En
        );
        assert_eq!(
            Lang::negotiate(None, Some("vi-VN,vi;q=0.9,en;q=0.8")),
            Lang::Vi
        );
        assert_eq!(
            Lang::negotiate(None, Some("fr,en;q=0.5,vi;q=0.7")),
            Lang::Vi
        );
        assert_eq!(Lang::negotiate(None, Some("de, en;q=0.1")), Lang::En);
        assert_eq!(Lang::negotiate(None, Some("en;q=0")), Lang::Vi);
        assert_eq!(Lang::negotiate(None, Some("de")), Lang::Vi);
        assert_eq!(Lang::negotiate(None, None), Lang::Vi);
    }

    #[test]
    fn numbers_the_way_each_language_writes_them() {
        assert_eq!(Lang::Vi.integer(1_234_567), "1.234.567");
        assert_eq!(Lang::En.integer(1_234_567), "1,234,567");
        assert_eq!(Lang::En.integer(999), "999");
        assert_eq!(Lang::Vi.number(1234.56, 1), "1.234,6");
        assert_eq!(Lang::En.number(-0.04, 1), "0.0");
        assert_eq!(Lang::En.number(-2.5, 1), "-2.5");
        assert_eq!(Lang::Vi.percent(0.875), "87,5 %");
        assert_eq!(Lang::En.bytes(4 << 30), "4.0 GiB");
        assert_eq!(Lang::En.bytes(512), "512 B");
        assert_eq!(Lang::Vi.bits_per_second(25e6), "25,0 Mbit/s");
        assert_eq!(Lang::En.duration(3 * 3600 + 5 * 60), "3 h 05 min");
        assert_eq!(Lang::Vi.duration(90), "1 phút");
        assert_eq!(Lang::En.duration(2 * 86_400 + 4 * 3600), "2 d 4 h");
    }
}
