//! Which of the actions a principal needs does a KMS key policy allow it? `doctor` reads the
//! hosting key's policy and asks this for the import role and for the importer (see
//! [`super::hosting_kms_key_statements`]).
//!
//! The evaluation is deliberately narrow and errs on the side of "missing": an `Allow`
//! statement counts when its `Principal` names the principal's ARN exactly (or is `"*"`), its
//! `Action` matches (with IAM's `*` and `?` wildcards, case-insensitively) and its `Resource`
//! is `"*"` or the key; its conditions are not evaluated. A `Deny` statement without
//! conditions that matches takes the action away. `NotPrincipal` and `NotAction` statements
//! are not counted (AWS IAM User Guide, "Policy evaluation logic").

use serde_json::Value;

/// The actions of `required` that `policy` (a key policy document) does not allow
/// `principal` on the key `key_arn`, in the order of `required`. A document that is not a
/// JSON object with a `Statement` allows nothing.
pub fn missing_key_actions<'a>(
    policy: &Value,
    principal: &str,
    key_arn: &str,
    required: &[&'a str],
) -> Vec<&'a str> {
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    let applies = |s: &Value, action: &str| {
        s.get("NotPrincipal").is_none()
            && s.get("NotAction").is_none()
            && names_principal(s.get("Principal"), principal)
            && strings(s.get("Action"))
                .iter()
                .any(|pattern| wildcard_match(pattern, action))
            && s.get("Resource")
                .is_none_or(|r| strings(Some(r)).iter().any(|r| r == "*" || r == key_arn))
    };
    required
        .iter()
        .copied()
        .filter(|action| {
            let allowed = statements
                .iter()
                .any(|s| s.get("Effect") == Some(&Value::from("Allow")) && applies(s, action));
            let denied = statements.iter().any(|s| {
                s.get("Effect") == Some(&Value::from("Deny"))
                    && s.get("Condition").is_none()
                    && applies(s, action)
            });
            !allowed || denied
        })
        .collect()
}

/// Whether a `Principal` element names `principal`: `"*"`, or `{"AWS": ...}` holding the ARN
/// or `"*"`.
fn names_principal(element: Option<&Value>, principal: &str) -> bool {
    match element {
        Some(Value::String(s)) => s == "*",
        Some(Value::Object(map)) => strings(map.get("AWS"))
            .iter()
            .any(|p| p == "*" || p == principal),
        _ => false,
    }
}

/// The strings of a string-or-array element.
fn strings(element: Option<&Value>) -> Vec<String> {
    match element {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// IAM's action matching: `*` any run of characters, `?` one character, case-insensitive.
/// A required action that itself ends with `*` (`kms:ReEncrypt*`) is matched as text, so only
/// a pattern that covers all of it counts.
fn wildcard_match(pattern: &str, action: &str) -> bool {
    let pattern: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let action: Vec<char> = action.to_ascii_lowercase().chars().collect();
    let (mut p, mut a) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while a < action.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == action[a]) {
            p += 1;
            a += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, a));
            p += 1;
        } else if let Some((sp, sa)) = star {
            p = sp + 1;
            a = sa + 1;
            star = Some((sp, sa + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROLE: &str = "arn:aws:iam::444455556666:role/Imp";
    const KEY: &str = "arn:aws:kms:us-east-1:444455556666:key/k";
    const NEEDED: &[&str] = &["kms:Encrypt", "kms:ReEncrypt*", "kms:DescribeKey"];

    fn allow(principal: Value, action: Value) -> Value {
        json!({"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*"})
    }

    #[test]
    fn exact_wildcard_and_missing_actions() {
        let policy = json!({"Statement": [
            allow(json!({"AWS": ROLE}), json!(["KMS:encrypt", "kms:ReEncrypt*"])),
        ]});
        assert_eq!(
            missing_key_actions(&policy, ROLE, KEY, NEEDED),
            ["kms:DescribeKey"]
        );
        let all = json!({"Statement": allow(json!({"AWS": [ROLE]}), json!("kms:*"))});
        assert!(missing_key_actions(&all, ROLE, KEY, NEEDED).is_empty());
        let partial =
            json!({"Statement": [allow(json!({"AWS": ROLE}), json!("kms:ReEncryptFrom"))]});
        assert!(missing_key_actions(&partial, ROLE, KEY, NEEDED).contains(&"kms:ReEncrypt*"));
    }

    #[test]
    fn other_principals_denies_and_not_elements_do_not_count() {
        let other = json!({"Statement": [allow(json!({"AWS": "arn:aws:iam::444455556666:role/Other"}), json!("kms:*"))]});
        assert_eq!(missing_key_actions(&other, ROLE, KEY, NEEDED).len(), 3);
        let denied = json!({"Statement": [
            allow(json!("*"), json!("kms:*")),
            {"Effect": "Deny", "Principal": {"AWS": ROLE}, "Action": "kms:Encrypt", "Resource": "*"},
        ]});
        assert_eq!(
            missing_key_actions(&denied, ROLE, KEY, NEEDED),
            ["kms:Encrypt"]
        );
        let not_action = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ROLE}, "NotAction": "kms:Sign", "Resource": "*"}
        ]});
        assert_eq!(missing_key_actions(&not_action, ROLE, KEY, NEEDED).len(), 3);
        assert_eq!(missing_key_actions(&json!("x"), ROLE, KEY, NEEDED).len(), 3);
    }
}
