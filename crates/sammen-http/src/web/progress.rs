//! Reading a progress form (the patient's and the professional's): pain, and activities as
//! `activity_<i>` with `score_<i>`. What the form cannot mean is refused here, before it
//! becomes a change, in words the reader can act on and naming the part that is wrong.
//! The patient's form suggests last time's activities (`suggested_<i>`); one of those
//! left without a number is simply not rated today.

use serde_json::{json, Value as Json};

use sammen_domain::DomainError;

/// The form's pain and activities as the JSON of a `record_progress` change.
pub fn read(f: &[(String, String)], activities: usize) -> Result<(Json, Vec<Json>), DomainError> {
    let get = |name: &str| f.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).unwrap_or("");
    let score = |s: &str| s.parse::<u8>().ok().filter(|n| *n <= 10);
    let pain = match get("pain") {
        "" => Json::Null,
        p => json!(score(p).ok_or_else(|| DomainError::field("pain", "pain is rated from 0 to 10"))?),
    };
    let mut rated = Vec::new();
    for i in 1..=activities {
        let (name, number) = (get(&format!("activity_{i}")), get(&format!("score_{i}")));
        let suggested = get(&format!("suggested_{i}"));
        match (name, number) {
            ("", "") => {}
            (name, "") if name == suggested => {}
            ("", _) => return Err(DomainError::field("activities", "name the activity you give a number")),
            (_, "") => {
                return Err(DomainError::field("activities", "give each activity you name a number from 0 to 10"))
            }
            (name, number) => {
                let number = score(number)
                    .ok_or_else(|| DomainError::field("activities", "each activity is rated from 0 to 10"))?;
                rated.push(json!({"activity": name, "score": number}));
            }
        }
    }
    Ok((pain, rated))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn refused_field(r: Result<(Json, Vec<Json>), DomainError>) -> &'static str {
        match r {
            Err(DomainError::InvalidField { field, .. }) => field,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_suggestion_left_unrated_is_left_out_and_the_rest_is_read() {
        let f = form(&[
            ("pain", "3"),
            ("activity_1", "Gå tur"),
            ("suggested_1", "Gå tur"),
            ("activity_2", "Cykle"),
            ("score_2", "6"),
        ]);
        let (pain, rated) = read(&f, 3).unwrap();
        assert_eq!(pain, json!(3));
        assert_eq!(rated, vec![json!({"activity": "Cykle", "score": 6})]);
    }

    #[test]
    fn what_cannot_be_meant_names_the_part_that_is_wrong() {
        assert_eq!(refused_field(read(&form(&[("pain", "11")]), 3)), "pain");
        assert_eq!(refused_field(read(&form(&[("pain", "tre")]), 3)), "pain");
        // A name typed (not suggested) without a number, a number without a name, 11.
        assert_eq!(refused_field(read(&form(&[("pain", "3"), ("activity_1", "Løbe")]), 3)), "activities");
        assert_eq!(refused_field(read(&form(&[("score_2", "4")]), 3)), "activities");
        assert_eq!(refused_field(read(&form(&[("activity_1", "Løbe"), ("score_1", "11")]), 3)), "activities");
    }
}
