//! The service models' member constraints (length, pattern, enum, range), checked in full and
//! reported in the AWS "1 validation error detected" form. Patterns are matched on the whole
//! string, which is how the real services treat them.

/// A constraint violation, already phrased for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Checked<T = ()> = Result<T, Violation>;

const SHOWN_VALUE_CHARS: usize = 64;

fn violation(value: &str, member: &str, constraint: &str) -> Violation {
    let shown: String = value.chars().take(SHOWN_VALUE_CHARS).collect();
    let ellipsis = if value.chars().count() > SHOWN_VALUE_CHARS {
        "..."
    } else {
        ""
    };
    Violation(format!(
        "1 validation error detected: Value '{shown}{ellipsis}' at '{member}' failed to satisfy \
         constraint: Member must {constraint}"
    ))
}

/// A required member that was not sent.
pub fn missing(member: &str) -> Violation {
    Violation(format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: \
         Member must not be null"
    ))
}

/// Length in characters (Unicode scalar values), as the models count it.
pub fn length(value: &str, member: &str, min: usize, max: usize) -> Checked {
    let n = value.chars().count();
    if n < min {
        return Err(violation(
            value,
            member,
            &format!("have length greater than or equal to {min}"),
        ));
    }
    if n > max {
        return Err(violation(
            value,
            member,
            &format!("have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// IdentityPoolId and IdentityId: 1..55 chars, `[\w-]+:[0-9a-f-]+`.
pub fn aws_id(value: &str, member: &str) -> Checked {
    length(value, member, 1, 55)?;
    let ok = match value.split_once(':') {
        Some((region, rest)) => {
            !region.is_empty()
                && region.chars().all(|c| word_char(c) || c == '-')
                && !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c) || c == '-')
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(violation(
            value,
            member,
            r"satisfy regular expression pattern: [\w-]+:[0-9a-f-]+",
        ))
    }
}

/// DatasetName: 1..128 chars, `[a-zA-Z0-9_.:-]+`.
pub fn dataset_name(value: &str, member: &str) -> Checked {
    length(value, member, 1, 128)?;
    if value
        .chars()
        .all(|c| word_char(c) || matches!(c, '.' | ':' | '-'))
    {
        Ok(())
    } else {
        Err(violation(
            value,
            member,
            "satisfy regular expression pattern: [a-zA-Z0-9_.:-]+",
        ))
    }
}

/// A value from a closed set.
pub fn one_of(value: &str, member: &str, allowed: &[&str]) -> Checked {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(violation(
            value,
            member,
            &format!("satisfy enum value set: [{}]", allowed.join(", ")),
        ))
    }
}

/// Every character matches `allowed` (a whole-string `[...]+` pattern), reported as `pattern`.
pub fn chars(value: &str, member: &str, pattern: &str, allowed: impl Fn(char) -> bool) -> Checked {
    if !value.is_empty() && value.chars().all(allowed) {
        Ok(())
    } else {
        Err(violation(
            value,
            member,
            &format!("satisfy regular expression pattern: {pattern}"),
        ))
    }
}

/// An integer within [min, max].
pub fn range(value: i64, member: &str, min: i64, max: i64) -> Checked {
    if value < min {
        return Err(violation(
            &value.to_string(),
            member,
            &format!("have value greater than or equal to {min}"),
        ));
    }
    if value > max {
        return Err(violation(
            &value.to_string(),
            member,
            &format!("have value less than or equal to {max}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_match_the_whole_pattern() {
        assert!(aws_id(
            "us-east-1:0b2f1c3d-aaaa-4bbb-8ccc-123456789abc",
            "identityId"
        )
        .is_ok());
        assert!(
            aws_id("us-east-1:ABCDEF", "identityId").is_err(),
            "uppercase hex is not in the pattern"
        );
        assert!(aws_id("us-east-1:abc/../x", "identityId").is_err());
        assert!(aws_id(":abc", "identityId").is_err());
        assert!(aws_id("us-east-1:", "identityId").is_err());
        assert!(
            aws_id(&format!("us-east-1:{}", "a".repeat(50)), "identityId").is_err(),
            "over 55 chars"
        );
    }

    #[test]
    fn dataset_names_allow_dots_and_colons_only_among_punctuation() {
        assert!(dataset_name("my.data_set-1:us-east-1:abc", "datasetName").is_ok());
        assert!(dataset_name("a/b", "datasetName").is_err());
        assert!(dataset_name("", "datasetName").is_err());
        assert!(dataset_name(&"x".repeat(129), "datasetName").is_err());
        assert!(dataset_name(&"x".repeat(128), "datasetName").is_ok());
    }

    #[test]
    fn messages_name_the_member_and_truncate_long_values() {
        let long = "v".repeat(500);
        let msg = length(&long, "recordPatches.1.member.value", 0, 10)
            .unwrap_err()
            .0;
        assert!(msg.starts_with("1 validation error detected: Value 'vvvv"));
        assert!(msg.contains("at 'recordPatches.1.member.value'"));
        assert!(msg.len() < 300);
    }
}

fn split_prefix<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    value.strip_prefix(prefix)
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

/// ApplicationArn: `arn:aws:sns:[-0-9a-z]+:\d+:app/[A-Z_]+/[a-zA-Z0-9_.-]+`.
pub fn application_arn(value: &str, member: &str) -> Checked {
    let ok = (|| {
        let rest = split_prefix(value, "arn:aws:sns:")?;
        let (region, rest) = rest.split_once(':')?;
        let (account, rest) = rest.split_once(':')?;
        let rest = rest.strip_prefix("app/")?;
        let (platform, name) = rest.split_once('/')?;
        let region_ok = !region.is_empty()
            && region
                .chars()
                .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_lowercase());
        let platform_ok =
            !platform.is_empty() && platform.chars().all(|c| c.is_ascii_uppercase() || c == '_');
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        Some(region_ok && digits(account) && platform_ok && name_ok)
    })()
    .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(violation(
            value,
            member,
            r"satisfy regular expression pattern: arn:aws:sns:[-0-9a-z]+:\d+:app/[A-Z_]+/[a-zA-Z0-9_.-]+",
        ))
    }
}

/// AssumeRoleArn: 20..2048 chars, `arn:aws:iam::\d+:role/.*`.
pub fn role_arn(value: &str, member: &str) -> Checked {
    length(value, member, 20, 2048)?;
    let ok = split_prefix(value, "arn:aws:iam::")
        .and_then(|rest| rest.split_once(":role/"))
        .is_some_and(|(account, path)| digits(account) && !path.contains(['\n', '\r']));
    if ok {
        Ok(())
    } else {
        Err(violation(
            value,
            member,
            r"satisfy regular expression pattern: arn:aws:iam::\d+:role/.*",
        ))
    }
}

/// Lambda Invoke's `FunctionName` pattern (the `NamespacedFunctionName` shape).
const FUNCTION_NAME_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?";

/// What Lambda's Invoke accepts as `FunctionName`: 1..170 chars matching
/// [`FUNCTION_NAME_PATTERN`] whole, i.e. a function name (`my-function`), a partial ARN
/// (`123456789012:function:my-function`) or a full ARN, each optionally with a version or alias
/// (`my-function:live`).
pub fn lambda_function_name(value: &str, member: &str) -> Checked {
    static WHOLE: std::sync::OnceLock<Option<regex_lite::Regex>> = std::sync::OnceLock::new();
    length(value, member, 1, 170)?;
    let whole = WHOLE
        .get_or_init(|| regex_lite::Regex::new(&format!("^(?:{FUNCTION_NAME_PATTERN})$")).ok());
    if whole.as_ref().is_some_and(|re| re.is_match(value)) {
        Ok(())
    } else {
        Err(violation(
            value,
            member,
            &format!("satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}"),
        ))
    }
}

#[cfg(test)]
mod arn_tests {
    use super::*;

    #[test]
    fn application_arns_follow_the_model_pattern() {
        assert!(application_arn("arn:aws:sns:us-east-1:123456789012:app/GCM/MyApp", "a").is_ok());
        assert!(application_arn(
            "arn:aws:sns:us-east-1:123456789012:app/APNS_SANDBOX/my.app-1",
            "a"
        )
        .is_ok());
        for bad in [
            "arn:aws:sns:US-EAST-1:123456789012:app/GCM/MyApp",
            "arn:aws:sns:us-east-1:12x:app/GCM/MyApp",
            "arn:aws:sns:us-east-1:123456789012:app/gcm/MyApp",
            "arn:aws:sns:us-east-1:123456789012:app/GCM/",
            "arn:aws:sns:us-east-1:123456789012:topic/GCM/MyApp",
            "arn:aws:sns:us-east-1:123456789012:app/GCM/My App",
        ] {
            assert!(application_arn(bad, "a").is_err(), "{bad}");
        }
    }

    #[test]
    fn lambda_function_names_are_what_invoke_accepts() {
        let full = "arn:aws:lambda:us-west-2:123456789012:function:my-function";
        for good in [
            "my-function",
            "validate",
            "my.function_2",
            "my-function:v1",
            "my-function:$LATEST",
            "my-function:7",
            "123456789012:function:my-function",
            "123456789012:function:my-function:PROD",
            "123456789012:my-function",
            "us-east-1:my-function",
            "function:my-function",
            full,
            &format!("{full}:live"),
            "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f",
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:f",
            "arn::lambda:eu-central-1:123456789012:function:f",
            // Greedy as the pattern is: "function" is itself a valid function name.
            "function",
            &"f".repeat(170),
        ] {
            assert!(lambda_function_name(good, "f").is_ok(), "{good}");
        }
        for bad in [
            "",
            "not a function",
            "my/function",
            "my-function:$latest",
            "my-function:v1:extra",
            "my-function:",
            ":my-function",
            "arn:aws:sqs:us-east-1:123456789012:queue",
            "arn:aws:lambda:us-east-1:123:function:f",
            "arn:aws:lambda:US-EAST-1:123456789012:function:f",
            "arn:aws:lambda:us-east-12:123456789012:function:f",
            "arn:gcp:lambda:us-east-1:123456789012:function:f",
            "arn:aws:lambda:us-east-1:123456789012:function:",
            "ftp://example.com/hook",
            "my-function\n",
            "fünction",
            "aé-east-1:my-function",
            "arn:aws:lambda:aé-east-1:123456789012:function:f",
            &"f".repeat(171),
        ] {
            assert!(lambda_function_name(bad, "f").is_err(), "{bad}");
        }
        let message = lambda_function_name("a b", "events.SyncTrigger")
            .unwrap_err()
            .0;
        assert!(message.contains("at 'events.SyncTrigger'"), "{message}");
        assert!(message.contains("(function:)?"), "{message}");
    }

    #[test]
    fn role_arns_follow_the_model_pattern_and_length() {
        assert!(role_arn("arn:aws:iam::123456789012:role/cognito-sync", "r").is_ok());
        assert!(role_arn("arn:aws:iam::123456789012:role/", "r").is_ok());
        let short = role_arn("arn:aws:iam::1:role", "r").unwrap_err().0;
        assert!(
            short.contains("length greater than or equal to 20"),
            "{short}"
        );
        assert!(role_arn("arn:aws:iam::abc:role/cognito-sync", "r").is_err());
        assert!(role_arn("arn:aws:iam::123456789012:user/cognito-sync", "r").is_err());
        assert!(role_arn(
            &format!("arn:aws:iam::123456789012:role/{}", "x".repeat(2048)),
            "r"
        )
        .is_err());
    }
}
