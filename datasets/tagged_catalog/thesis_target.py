"""The thesis's target set (Appendix B): its 63 validation tags and its 100-track validation list.

The audio (842 songs) is private; a user who has it supplies it through ``manual_dir``. Names in
the validation list are matched to file names after :func:`normalise` (the ``v_`` prefix the
thesis's list carries, case, punctuation and the extension are ignored). Entry 80 of the
printed list is numbered 90 in the thesis; the list below is in printed order.
"""

import re
import unicodedata

# Appendix B.1, in the thesis's order (tag, occurrences in the validation set).
TAGS = (
    "down beat", "blip", "bass", "deep", "dark", "kick", "tight", "bass lead", "empty", "tiro", "female", "house",
    "happy", "piano", "male", "spoken", "aggressive", "tztz", "disco", "chic", "melody", "jazzy", "drums", "train",
    "trip", "soulful", "unzug", "song", "steady", "slow", "loopy", "volvo", "open", "strings", "techno", "tribal",
    "electro", "1 by 2", "flute", "gay", "gentle", "mellow", "soft", "rough", "energy", "voices", "get down", "warm",
    "elegant", "funkyg", "upbeat", "hypnotic", "choir", "scary", "horns", "drama", "space", "ethereal", "silly",
    "effects", "epic", "keys", "fast",
)

VALIDATION_TRACKS = (
    "v_Marie St James - Closer I Get",
    "v_Degrees Of Motion - Do You Want It Right Now (Extended Club Mix)",
    "v_Alison Limerick - Where Love Lives (Sauna Mix)",
    "v_Soldiers Of Twilight - Believe (Extended)",
    "v_Dj Spiller - Groovejet (If This Ain't Love) (Spiller's Radio Edit)",
    "Soul Providers - Rise (Ricky Montanari & Stefano Greppi Dark Vocal Mix)",
    "v_Filippo Naugthy Moscatello - Final Signal",
    "v_Aaron-Carl - Dance Naked (Soulman's Eviction Loops)",
    "v_Basement Jaxx - Rendez-Vu (All U Crazyes)",
    "v_Deep Dish - My Only Sin",
    "v_St Etienne - Only Love Can Break Your Heart (MAW Dub)",
    "v_Mondo Grosso - Star Suite (Shelter Dub)",
    "v_Brother Of Soul - Ife Bobowa",
    "Malena Perez - Cool Lil Thing (Alix Alvarez dub)",
    "v_Big Moses ft Kenny Bobian - Brighter Days (Original Mix)",
    "v_The Product G&B ft Carlos Santana - Dirty Dancing (Robbie Rivera's Tribal Sessions Sub)",
    "v_NSK Tune - Out Of My Mind (NR Main Dub)",
    "v_Johnick - The Captain",
    "v_Mongobonix - Mas-Pito",
    "v_Basement Jaxx - Rendez-Vu (Radio Edit)",
    "v_Mang'e Le Funk - I Still Want You",
    "LUPO - Hell Or Heaven (Extended Mix)",
    "v_Cevin Fisher - Music Saved My Life (Freezy Jam Mix)",
    "v_Capricorn - Love In London (2001 Mix)",
    "v_Didier Sinclair - Lovely Flight (Dj Chris Pi Airlines Mix)",
    "v_Africanism - Bisou Sucre",
    "v_Freestyle Orchestra - Twi-Lite (K-Dope Twi-Lite)",
    "v_D.J Spen - Da Changez",
    "v_Men From The Nile - Watch Them Come",
    "v_Deepswing - In The Music (Original Version)",
    "Simone - Hey Fellas (Morel's Gospel Mix)",
    "v_Liquid Measures ft Jocelyn Brown - Take Me Up (Pasta Boys club remix)",
    "v_Jaydee - Plastic Dreams (Morales Club Mix)",
    "v_H20 ft Billie - Take Me Higher (Original Mix)",
    "v_Clivilles & Cole - A Deeper Love (A Deeper Feeling Mix)",
    "v_Confession - I Found My Love (Club Mix A)",
    "v_Discorosso - Discorosso (Kama Kama Vrs.No.1)",
    "v_Depeche Mode - I Feel Loved (Danny Tenaglia's Labor of Love Instrumental)",
    "v_Djum Djum - Difference (Sagwa Mix)",
    "v_Coco Steel & Lovebomb - Feel It (Vox Mix)",
    "v_Coco Steel & Lovebomb - Feel It (Version Mix)",
    "v_Robbie Rivera - Feel This (Robbie Rivera's Tribal Sessions Mix)",
    "v_Paperclip People - Throw",
    "v_MAW - Unreleased Project (Clouds)",
    "v_D.J Spen - Back When",
    "v_E-Smoove - Be With You (Vocal Vibes)",
    "v_Soul Vision - Don't Stop (Edit)",
    "v_Lil' Louis & The World - Club Lonely (DJ Pierre's Afro Club Mix)",
    "v_Meli'sa Morgan - Still In Love With You (Still In Love Mix)",
    "v_Rachid - Pride (Album Version)",
    "v_Metro Area - Strut",
    "v_Mekon ft Mark Almond - Please Stay (Bertrand Burgalat's Vocal Remix)",
    "v_Massive Attack - Unfinished Sympathy (Paul Oakenfold Mix)",
    "v_Interfront - Bases Mix R-5",
    "v_Interfront - Mathausen",
    "v_Interfront - Bonus Beats Strange",
    "v_Future Sound Of London - Papua New Guinea (Qube Mix)",
    "v_Junior Sanchez - N.A.S.T.Y",
    "v_Full Intention pres Hustle Espanol - (Do The) Spanish Hustle (Dub Mix)",
    "v_Brother Of Soul - Celebration Of Life",
    "v_Gat Decor - Passion (D.Emerson Edit)",
    "v_Paperclip People - Remake Uno",
    "v_KenLou 3 - What A Sensation (Sensational Beats)",
    "v_Chiapet - Tick Tock (Apocalypse Now Mix)",
    "v_Aaron-Carl - Dance Naked (C&M Balearic Drama Remix)",
    "v_Starchaser - Jambe Myth (Dsnny Jc vs Speed City Mix)",
    "v_Lil' Devious - Come Home (Dave Clarke Remix)",
    "v_Bob Marley vs Funkstar De Luxe - Sun Is Shining (ATB Club Mix)",
    "v_Cricco Castelli - Life Has Changed",
    "v_Sandy Rivera - Love For Free",
    "Martha Wash - Leave a Light On",
    "v_Lil' Louis & The World - Club Lonely (Bellbottoms & Platforms Mix)",
    "v_Liquid Woman - Come And Go With Me (Anthem Radio Edit)",
    "v_Age Of Love - The Age Of Love (Sign Of The Time Mix)",
    "v_Interfront - Strange Instru",
    "v_Sonique - Feels So Good (En-Motion Remix)",
    "v_Robert Owens - I'll Be Your Friend (Dead Zone)",
    "v_Crystal Waters - Gypsy Woman (Basement Boys 'Strip To The Bone' Mix)",
    "v_Daft Punk - Around The World (Kenlou Mix)",
    "v_Those Guys - Sierra Leone (Main)",
    "v_Kerri Chandler - Atmosphere (Kerri's Foundation Dub)",
    "v_Rui Da Silva - Touch Me (Peace Division Mix)",
    "v_Cottage Alert - Lost Love (Original Demo Cut)",
    "v_Black Masses - Wonderful Person (Wonderful Brazil Dub)",
    "Basil - City Streets (Kerri Chandler Kaoz On City Streets)",
    "v_Africanism - The Dragon",
    "v_Black Science Orchestra - Keep On Keepin' On (Spen & Karisma's Deepah Dub)",
    "v_The Rolling Stones - Saint Of Me (Deep Dish Grunge Garage Dub)",
    "v_Chez Damier - Can You Feel It (Vocal Club Mix)",
    "v_Armand van Helden - Entra Mi Casa (Original Long Version)",
    "Jamie Lewis ft Michael Watford - For You (Moodbangers Mix)",
    "KC Flightt vs Funky Junction - Voices (Pete Heller Main Mix)",
    "v_Toni Braxton - Spanish Guitar (Joe Claussel Dub)",
    "v_Backroom Congregation - Sunday Morning (WMC 98 Instrumental)",
    "Una Mas - I Will Follow You (Full Intention Club Mix)",
    "v_Modjo - No More Tears (Highpass vs Triple X Remix)",
    "v_Massive Attack - Unfinished Sympathy",
    "v_Bob Sinclair - New York City Music",
    "Kimara Lovelace - I Luv You More (Sean McCabe Demo Mix)",
    "v_The Black Science Orchestra - Sunshine (Sunset Vocal)",
)

_AUDIO_EXT = re.compile(r"\.(wav|wave|flac|ogg|oga|opus|mp3|aif|aiff)$", re.IGNORECASE)


def normalise(name: str) -> str:
    """Compare track names and file names: no folder, extension, ``v_`` prefix, case or punctuation."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _AUDIO_EXT.sub("", name)
    name = re.sub(r"^v_", "", name.strip(), flags=re.IGNORECASE)
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", name.lower())
