//! Short renderings of lists and values for evidence and notes.

use std::fmt;

/// `a, b, c` or `a, b, c and 7 more`.
pub(crate) fn short_list<T: fmt::Display>(items: &[T]) -> String {
    const SHOWN: usize = 5;
    let mut s: Vec<String> = items.iter().take(SHOWN).map(|i| i.to_string()).collect();
    if items.len() > SHOWN {
        s.push(format!("and {} more", items.len() - SHOWN));
    }
    s.join(", ")
}

/// A list for evidence: long lists keep their head and tail, where the action is.
pub(crate) fn show_list(l: &[i64]) -> String {
    const HEAD: usize = 3;
    const TAIL: usize = 6;
    let join = |xs: &[i64]| {
        xs.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    if l.len() <= HEAD + TAIL + 1 {
        format!("[{}]", join(l))
    } else {
        format!(
            "[{} …{} more… {}]",
            join(&l[..HEAD]),
            l.len() - HEAD - TAIL,
            join(&l[l.len() - TAIL..])
        )
    }
}

pub(crate) fn show_value(v: Option<&str>) -> String {
    match v {
        Some(v) => format!("{v:?}"),
        None => "nil".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_keep_head_and_tail() {
        assert_eq!(show_list(&[1, 2, 3]), "[1 2 3]");
        let l: Vec<i64> = (1..=20).collect();
        assert_eq!(show_list(&l), "[1 2 3 …11 more… 15 16 17 18 19 20]");
        assert_eq!(short_list(&["a", "b"]), "a, b");
        assert_eq!(
            short_list(&[1, 2, 3, 4, 5, 6, 7]),
            "1, 2, 3, 4, 5, and 2 more"
        );
    }
}
