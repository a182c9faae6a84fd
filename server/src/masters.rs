//! Master data the registries validate codes against: LGD state codes and the HPR professional
//! categories (`hpCategoryCode`, `hpSubCategoryCode`).

/// LGD state and union territory codes.
pub const STATES: &[(u32, &str)] = &[
    (1, "Jammu and Kashmir"),
    (2, "Himachal Pradesh"),
    (3, "Punjab"),
    (4, "Chandigarh"),
    (5, "Uttarakhand"),
    (6, "Haryana"),
    (7, "Delhi"),
    (8, "Rajasthan"),
    (9, "Uttar Pradesh"),
    (10, "Bihar"),
    (11, "Sikkim"),
    (12, "Arunachal Pradesh"),
    (13, "Nagaland"),
    (14, "Manipur"),
    (15, "Mizoram"),
    (16, "Tripura"),
    (17, "Meghalaya"),
    (18, "Assam"),
    (19, "West Bengal"),
    (20, "Jharkhand"),
    (21, "Odisha"),
    (22, "Chhattisgarh"),
    (23, "Madhya Pradesh"),
    (24, "Gujarat"),
    (27, "Maharashtra"),
    (28, "Andhra Pradesh"),
    (29, "Karnataka"),
    (30, "Goa"),
    (31, "Lakshadweep"),
    (32, "Kerala"),
    (33, "Tamil Nadu"),
    (34, "Puducherry"),
    (35, "Andaman and Nicobar Islands"),
    (36, "Telangana"),
    (37, "Ladakh"),
    (38, "Dadra and Nagar Haveli and Daman and Diu"),
];

/// A code with its name.
pub type Coded = (u32, &'static str);

/// HPR categories: (code, name, [(sub-category code, name)]).
pub const HPR_CATEGORIES: &[(u32, &str, &[Coded])] = &[
    (1, "Doctor", &[(1, "Modern Medicine"), (2, "Dentist"), (3, "Ayurveda"), (4, "Homeopathy")]),
    (2, "Nurse", &[(5, "Registered Nurse"), (6, "Auxiliary Nurse Midwife")]),
];

pub fn state_name(code: u32) -> Option<&'static str> {
    STATES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// (category name, sub-category name) when the pair is known.
pub fn hpr_category(category: u32, sub: u32) -> Result<(&'static str, &'static str), &'static str> {
    let (_, name, subs) = HPR_CATEGORIES.iter().find(|(c, _, _)| *c == category).ok_or("hpCategoryCode")?;
    let (_, sub_name) = subs.iter().find(|(s, _)| *s == sub).ok_or("hpSubCategoryCode")?;
    Ok((name, sub_name))
}
